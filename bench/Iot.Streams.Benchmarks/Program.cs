using System.Diagnostics;
using System.Globalization;
using Iot.Streams.Log;
using Iot.Streams.Sinks.Influx;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

// Durable append throughput of the partition log and, when INFLUXDB_URL names a running influxd (Debian's influxdb),
// sink throughput into influxd; when NATS_URL names NATS servers with JetStream (cluster mode), append throughput of
// the JetStream partitions (NATS_REPLICAS replicas, default 1). A macro benchmark: appends are fsync-bound, so
// BenchmarkDotNet's iteration model adds nothing. Usage: dotnet run -c Release --project bench/Iot.Streams.Benchmarks [-- seconds]
var seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 5;
var payload = new byte[200];
Random.Shared.NextBytes(payload);
Console.WriteLine($"payload {payload.Length} B, {seconds} s per case, {Environment.ProcessorCount} cores");
Console.WriteLine("| case | fsync | partitions | in flight | events/s | MB/s | p50 ack ms | p99 ack ms |");
Console.WriteLine("|---|---|---|---|---|---|---|---|");
foreach (var (fsync, partitions, inFlight) in new[]
{
    (FsyncPolicy.PerGroup, 1, 1), (FsyncPolicy.PerGroup, 1, 64), (FsyncPolicy.PerGroup, 1, 1024),
    (FsyncPolicy.PerGroup, 4, 1024), (FsyncPolicy.Never, 1, 1024), (FsyncPolicy.Never, 4, 1024),
})
{
    await AppendCaseAsync(fsync, partitions, inFlight);
}

if (Environment.GetEnvironmentVariable("NATS_URL") is { Length: > 0 } natsUrl)
{
    var replicas = int.Parse(Environment.GetEnvironmentVariable("NATS_REPLICAS") ?? "1", CultureInfo.InvariantCulture);
    foreach (var (partitions, inFlight) in new[] { (1, 1), (1, 256), (1, 1024), (4, 1024) })
    {
        await JetStreamCaseAsync(natsUrl, replicas, partitions, inFlight);
    }
}

if (Environment.GetEnvironmentVariable("INFLUXDB_URL") is { Length: > 0 } influxUrl)
{
    await SinkCaseAsync(new Uri(influxUrl), Environment.GetEnvironmentVariable("INFLUXDB_DB") ?? "iot");
}

async Task AppendCaseAsync(FsyncPolicy fsync, int partitions, int inFlight)
{
    var dir = Path.Combine(Path.GetTempPath(), $"iot-bench-{Guid.NewGuid():N}");
    var logs = Enumerable.Range(0, partitions)
        .Select(p => SegmentLog.Open(Path.Combine(dir, p.ToString(CultureInfo.InvariantCulture)), new SegmentLogOptions { Fsync = fsync })).ToArray();
    try
    {
        var latencies = new List<double>[inFlight];
        var stop = Stopwatch.StartNew();
        var writers = Enumerable.Range(0, inFlight).Select(w => Task.Run(async () =>
        {
            var mine = latencies[w] = [];
            var log = logs[w % partitions];
            while (stop.Elapsed.TotalSeconds < seconds)
            {
                var started = Stopwatch.GetTimestamp();
                await log.AppendAsync(new AppendRecord(DateTimeOffset.UtcNow, "dev", "devices/dev/telemetry", payload));
                mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        })).ToArray();
        await Task.WhenAll(writers);
        var elapsed = stop.Elapsed.TotalSeconds;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        var rate = all.Length / elapsed;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| append | {fsync} | {partitions} | {inFlight} | {rate:N0} | {rate * (payload.Length + 60) / 1e6:N1} | {all[all.Length / 2]:N2} | {all[(int)(all.Length * 0.99)]:N2} |"));
    }
    finally
    {
        foreach (var log in logs)
        {
            await log.DisposeAsync();
        }

        Directory.Delete(dir, recursive: true);
    }
}

async Task JetStreamCaseAsync(string urls, int replicas, int partitions, int inFlight)
{
    await using var nats = new NATS.Client.Core.NatsConnection(NATS.Client.Core.NatsOpts.Default with { Url = urls });
    await nats.ConnectAsync();
    var js = new NATS.Client.JetStream.NatsJSContext(nats);
    var id = Guid.NewGuid().ToString("N")[..8];
    var options = new Iot.Streams.Log.JetStream.JetStreamLogOptions
    {
        Replicas = replicas, StreamPrefix = $"BENCH{id}_", SubjectPrefix = $"bench{id}", DefinitionsBucket = $"bench-s-{id}", GroupsBucket = $"bench-g-{id}",
    };
    await using var store = new Iot.Streams.Log.JetStream.JetStreamStreamStore(js, new NATS.Client.KeyValueStore.NatsKVContext(js), options,
        [new StreamDefinition { Name = "bench", Partitions = partitions }], NullLogger.Instance);
    await store.StartAsync(CancellationToken.None);
    var latencies = new List<double>[inFlight];
    var stop = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, inFlight).Select(w => Task.Run(async () =>
    {
        var mine = latencies[w] = [];
        var log = store.GetPartition("bench", w % partitions);
        while (stop.Elapsed.TotalSeconds < seconds)
        {
            var started = Stopwatch.GetTimestamp();
            await log.AppendAsync(new AppendRecord(DateTimeOffset.UtcNow, "dev", "devices/dev/telemetry", payload));
            mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    })));
    var elapsed = stop.Elapsed.TotalSeconds;
    var all = latencies.SelectMany(l => l).Order().ToArray();
    var rate = all.Length / elapsed;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| jetstream R{replicas} | (raft) | {partitions} | {inFlight} | {rate:N0} | {rate * (payload.Length + 60) / 1e6:N1} | {all[all.Length / 2]:N2} | {all[(int)(all.Length * 0.99)]:N2} |"));
    for (var p = 0; p < partitions; p++)
    {
        await js.DeleteStreamAsync(Iot.Streams.Log.JetStream.JetStreamNames.PartitionStream(options.StreamPrefix, "bench", p));
    }
}

async Task SinkCaseAsync(Uri url, string database)
{
    const int Points = 200_000;
    var dir = Path.Combine(Path.GetTempPath(), $"iot-bench-{Guid.NewGuid():N}");
    var store = new FileStreamStore(dir, _ => new SegmentLogOptions { Fsync = FsyncPolicy.Never });
    try
    {
        var stream = "bench" + Guid.NewGuid().ToString("N")[..8];
        store.TryCreate(new StreamDefinition { Name = stream, Partitions = 4 }, out _);
        var t0 = DateTimeOffset.UtcNow.AddHours(-1);
        await Task.WhenAll(Enumerable.Range(0, Points).Select(i => store.GetPartition(stream, i % 4).AppendAsync(new AppendRecord(t0.AddMilliseconds(i), $"dev-{i % 100}",
            null, System.Text.Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"temperature\":{i % 40},\"humidity\":{i % 100}}}")))).AsTask()));
        var options = new InfluxSinkOptions { Enabled = true, Url = url, Database = database, Streams = [stream], FlushInterval = TimeSpan.FromMilliseconds(100) };
        using var http = new HttpClient();
        var sink = new InfluxSinkService(store, new InfluxV1Writer(http, options, TimeProvider.System), Options.Create(options), TimeProvider.System, Iot.Messaging.Leases.LocalSingletonLeases.Instance,
            NullLogger<InfluxSinkService>.Instance);
        var stop = Stopwatch.StartNew();
        await sink.StartAsync(CancellationToken.None);
        while (Enumerable.Range(0, 4).Sum(p => store.GetGroups(stream).GetCommitted(InfluxSinkService.GroupName, p)?.Offset ?? 0) < Points)
        {
            await Task.Delay(20);
        }

        var elapsed = stop.Elapsed.TotalSeconds;
        await sink.StopAsync(CancellationToken.None);
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"sink: {Points:N0} points, 4 partitions, batch {options.BatchSize}, gzip: {elapsed:N2} s, {Points / elapsed:N0} points/s committed"));
    }
    finally
    {
        await store.DisposeAsync();
        Directory.Delete(dir, recursive: true);
    }
}
