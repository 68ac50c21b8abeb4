using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Leases;

/// <summary>
/// Issue 19, done-when 5, end to end through real clients: telemetry published over MQTT through two broker nodes lands
/// in the partitions of <c>telemetry</c> with dense offsets; every window x partition is aggregated on one node; after
/// <c>kill -9</c> of the node that aggregates (while the other node's devices keep publishing) the survivor takes over,
/// every closed window of every device is published with the values computed here from what was published, and a window
/// published twice (by the dead node before its commit and again by the survivor) has the same values; the InfluxDB sink
/// (a real <c>influxd</c>) has every telemetry point and every window.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class AggregationFailoverTests(ITestOutputHelper output)
{
    private const int Partitions = 4; // the default stream telemetry
    private const int Singletons = (Partitions * 2) + 2 + 1 + 2; // the window's and the sink's of telemetry, the sink's of agg (2 partitions), the queue sweep, the two crossover checks
    private const int Devices = 8;
    private const string Window = "w1";
    private const string Output = "agg";
    private const long WindowMs = 1000;
    private static readonly TimeSpan LeaseDuration = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan PublishInterval = TimeSpan.FromMilliseconds(100);
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    [Fact]
    public Task KillTheAggregatingNode_EveryWindowPublishedWithItsValues_NoneTwiceDifferently_InfluxHasEveryPoint() =>
        RunAsync(pause: false);

    /// <summary>
    /// The former owner is not dead but frozen (SIGSTOP, as in a long GC pause or a suspended VM) until the survivor took its
    /// work over, then goes on (SIGCONT) believing for a moment that it still holds its leases: whatever it publishes late
    /// has the same values, its commits are refused, it stops, and nothing is lost. Then the survivor is killed and the
    /// former owner takes every singleton back (a node that lost a lease can hold it again).
    /// </summary>
    [Fact]
    public Task PauseTheAggregatingNodePastItsLeases_ItResumesAndStops_NoWindowTwiceDifferently_InfluxHasEveryPoint() =>
        RunAsync(pause: true);

    private async Task RunAsync(bool pause)
    {
        var influx = new InfluxFixture();
        await influx.InitializeAsync();
        try
        {
            await using var nats = await NatsClusterFixture.StartAsync(servers: 1);
            await using var brokers = await ClusterBrokers.StartAsync(nats, 2, Args(influx.Url));
            try
            {
                await RunAsync(brokers, influx, pause);
            }
            catch
            {
                output.WriteLine(brokers.Diagnostics());
                throw;
            }
        }
        finally
        {
            await influx.DisposeAsync();
        }
    }

    private static string[] Args(Uri influx) =>
    [
        "--Iot:Cluster:LeaseDuration=00:00:03",
        "--Iot:Cluster:LeaseSafetyMargin=00:00:01",
        "--Iot:Streams:IdleTick=00:00:00.200",
        "--Iot:Streams:Streams:0:Name=" + Output,
        "--Iot:Streams:Streams:0:Partitions=2",
        "--Iot:Streams:Windows:0:Name=" + Window,
        "--Iot:Streams:Windows:0:Kind=Tumbling",
        "--Iot:Streams:Windows:0:Size=00:00:01",
        "--Iot:Streams:Windows:0:Tolerance=00:00:03", // generous: a late event would be a test artefact, not a takeover effect
        "--Iot:Streams:Windows:0:Fields:0=temperature",
        "--Iot:Streams:Windows:0:Aggregates:0=Count",
        "--Iot:Streams:Windows:0:Aggregates:1=Sum",
        "--Iot:Streams:Windows:0:Aggregates:2=Min",
        "--Iot:Streams:Windows:0:Aggregates:3=Max",
        "--Iot:Streams:Windows:0:OutputStream=" + Output,
        "--Iot:Influx:Enabled=true",
        "--Iot:Influx:Url=" + influx,
        "--Iot:Influx:Database=" + InfluxFixture.Database,
        "--Iot:Influx:Streams:0=telemetry",
        "--Iot:Influx:Streams:1=" + Output,
        "--Iot:Influx:FlushInterval=00:00:00.200",
        "--Iot:Influx:MinRetryDelay=00:00:00.200",
        "--Iot:Influx:MaxRetryDelay=00:00:01",
    ];

    private async Task RunAsync(ClusterBrokers brokers, InfluxFixture influx, bool pause)
    {
        var prefix = "af-" + Guid.NewGuid().ToString("N")[..6];
        var devices = Enumerable.Range(0, Devices).Select(d => string.Create(CultureInfo.InvariantCulture, $"{prefix}-{d}")).ToArray();

        // Every partition of the window is aggregated on exactly one node.
        var running = await Eventually.WaitForAsync(async () => new[] { await RunningOnAsync(brokers, 0), await RunningOnAsync(brokers, 1) },
            r => r[0].Count + r[1].Count == Partitions, TimeSpan.FromSeconds(30), "every partition of the window runs on a node");
        Assert.Empty(running[0].Intersect(running[1]));
        var victim = running[0].Count >= running[1].Count ? 0 : 1;
        var survivor = 1 - victim;

        // Watch the aggregates on the survivor (MQTT, retained QoS 1 on aggregates/telemetry/{window}/{key}).
        var seenOnMqtt = new ConcurrentQueue<Aggregate>();
        using var watcher = await ConnectAsync(brokers.MqttPort(survivor), prefix + "-watch");
        watcher.ApplicationMessageReceivedAsync += e =>
        {
            if (e.ApplicationMessage.Topic.StartsWith($"aggregates/telemetry/{Window}/{prefix}-", StringComparison.Ordinal))
            {
                seenOnMqtt.Enqueue(Aggregate.Parse(JsonDocument.Parse(e.ApplicationMessage.ConvertPayloadToString()).RootElement));
            }

            return Task.CompletedTask;
        };
        await watcher.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic($"aggregates/telemetry/{Window}/#").WithAtLeastOnceQoS()).Build());

        // Half the devices publish through each node (each publish waits for its PUBACK, so each is in the stream once).
        var published = new ConcurrentQueue<Sample>();
        using var stopVictims = new CancellationTokenSource();
        using var stopAll = new CancellationTokenSource();
        var onVictim = devices.Where((_, d) => d % 2 == victim).ToArray();
        var onSurvivor = devices.Where((_, d) => d % 2 == survivor).ToArray();
        var survivorLoops = onSurvivor.Select(d => PublishAsync(brokers.MqttPort(survivor), d, d, published, stopAll.Token)).ToList();
        var victimLoops = onVictim.Select(d => PublishAsync(brokers.MqttPort(victim), d, d, published, stopVictims.Token)).ToList();

        // Several windows, then the victim's devices stop (all acknowledged) and the victim is killed mid-stream.
        await AggregatedSinceAsync(seenOnMqtt, 0, windows: 2, "two windows are aggregated before the kill");
        await stopVictims.CancelAsync();
        await Task.WhenAll(victimLoops);
        output.WriteLine($"node-{victim} aggregates [{string.Join(",", running[victim])}], node-{survivor} [{string.Join(",", running[survivor])}]; " +
            $"leases held: {await LeasesHeldAsync(brokers, victim)} / {await LeasesHeldAsync(brokers, survivor)}; {(pause ? "freezing" : "killing")} node-{victim} after {published.Count} messages");
        var frozen = brokers[victim].Id;
        if (pause)
        {
            await SignalAsync(frozen, "STOP");
        }
        else
        {
            await brokers.KillAsync(victim);
        }

        var sinceKill = Stopwatch.StartNew();

        // The victim's devices move to the survivor and keep publishing; the survivor takes every partition over.
        var movedLoops = onVictim.Select(d => PublishAsync(brokers.MqttPort(survivor), d, d + "-moved", published, stopAll.Token)).ToList();
        await Eventually.WaitUntilAsync(async () => (await RunningOnAsync(brokers, survivor)).Count == Partitions,
            LeaseDuration + TimeSpan.FromSeconds(5), $"node-{survivor} takes over every partition");
        output.WriteLine($"node-{survivor} aggregates every partition {sinceKill.ElapsedMilliseconds} ms after {(pause ? "SIGSTOP" : "kill -9")}");
        await AggregatedSinceAsync(seenOnMqtt, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), windows: 1, "a window that began after the takeover is aggregated");
        if (pause)
        {
            // The former owner goes on: it finds its leases lost (its own give-up timer, a refused renewal or a refused
            // commit) and stops every partition; the survivor keeps them.
            await SignalAsync(frozen, "CONT");
            await Eventually.WaitUntilAsync(async () => (await RunningOnAsync(brokers, victim)).Count == 0, TimeSpan.FromSeconds(15),
                $"node-{victim} stops aggregating after SIGCONT");
            Assert.True(await Cluster.Nodes.ClusterApi.MetricAsync(brokers.HttpBaseAddress(victim), "iot_cluster_leases_lost_total") > 0);
            Assert.Equal(0, await LeasesHeldAsync(brokers, victim));
            Assert.Equal(Partitions, (await RunningOnAsync(brokers, survivor)).Count);
            await AggregatedSinceAsync(seenOnMqtt, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), windows: 1,
                "a window that began after the former owner resumed is aggregated");
        }

        await stopAll.CancelAsync();
        await Task.WhenAll(survivorLoops.Concat(movedLoops));
        var samples = published.ToList();
        output.WriteLine($"{samples.Count} messages acknowledged");
        var reader = survivor;
        if (pause)
        {
            // The node that lost its leases must be able to take them again: kill -9 of the survivor moves every
            // singleton back to it.
            await brokers.KillAsync(survivor);
            await Eventually.WaitUntilAsync(async () => (await RunningOnAsync(brokers, victim)).Count == Partitions
                && await LeasesHeldAsync(brokers, victim) == Singletons, LeaseDuration + TimeSpan.FromSeconds(5), $"node-{victim} takes every singleton back");
            reader = victim;
        }

        // 1. Dense offsets in every partition, every acknowledged message there once.
        var telemetry = await ReadStreamAsync(brokers.HttpBaseAddress(reader), "telemetry",
            rows => rows.Count(r => r.Key is { } k && k.StartsWith(prefix, StringComparison.Ordinal)) >= samples.Count);
        foreach (var (partition, rows) in telemetry)
        {
            Assert.True(Enumerable.Range(0, rows.Count).Select(i => (long)i).SequenceEqual(rows.Select(r => r.Offset)),
                $"partition {partition}: offsets not dense: {string.Join(",", rows.Select(r => r.Offset))}");
        }

        var stored = telemetry.Values.SelectMany(rows => rows).Where(r => r.Key is { } k && k.StartsWith(prefix, StringComparison.Ordinal))
            .Select(r => new Sample(r.Key!, r.Payload.GetProperty("ts").GetInt64(), r.Payload.GetProperty("temperature").GetInt32())).ToList();
        Assert.Equal(samples.OrderBy(s => s.Device, StringComparer.Ordinal).ThenBy(s => s.Ts), stored.OrderBy(s => s.Device, StringComparer.Ordinal).ThenBy(s => s.Ts));

        // 2. Every window of every device is published (to the output stream, durably, before each commit), with the
        // values of what was published; a window published twice has the same values both times.
        var expected = samples.GroupBy(s => (s.Device, Start: s.Ts - (s.Ts % WindowMs)))
            .ToDictionary(g => g.Key, g => new Aggregate(g.Key.Device, g.Key.Start, g.Count(), g.Sum(s => s.Temperature),
                g.Min(s => s.Temperature), g.Max(s => s.Temperature)));
        var results = await ReadStreamAsync(brokers.HttpBaseAddress(reader), Output,
            rows => rows.Select(r => Aggregate.Parse(r.Payload)).Where(a => expected.ContainsKey((a.Key, a.Start))).Select(a => (a.Key, a.Start))
                .Distinct().Count() == expected.Count, TimeSpan.FromSeconds(30));
        var aggregates = results.Values.SelectMany(rows => rows).Select(r => Aggregate.Parse(r.Payload))
            .Where(a => a.Key.StartsWith(prefix, StringComparison.Ordinal)).ToList();
        foreach (var aggregate in aggregates)
        {
            Assert.True(expected.TryGetValue((aggregate.Key, aggregate.Start), out var want), $"a window nobody published into: {aggregate}");
            Assert.Equal(want, aggregate);
        }

        var twice = aggregates.GroupBy(a => (a.Key, a.Start)).Count(g => g.Count() > 1);
        output.WriteLine($"{expected.Count} windows, {aggregates.Count} results in '{Output}' ({twice} windows published twice, each with the same values)");

        // The same values reached the MQTT subscriber on the survivor (live messages between nodes are at most once,
        // so this checks the values of what arrived, not that everything arrived).
        Assert.NotEmpty(seenOnMqtt);
        foreach (var aggregate in seenOnMqtt)
        {
            Assert.True(expected.TryGetValue((aggregate.Key, aggregate.Start), out var want), $"a window nobody published into (MQTT): {aggregate}");
            Assert.Equal(want, aggregate);
        }

        output.WriteLine($"{seenOnMqtt.Count} aggregates over MQTT on node-{survivor}, {seenOnMqtt.Select(a => (a.Key, a.Start)).Distinct().Count()} distinct windows");

        // 3. InfluxDB has every telemetry point and every window. A point written twice (a batch written before the kill
        // and again by the new owner from the committed offset) overwrites itself: same measurement, tags and time.
        await Eventually.WaitUntilAsync(async () => await InfluxCountAsync(influx, "telemetry", "temperature", prefix) == samples.Count
            && await InfluxCountAsync(influx, Output, "temperature_sum", prefix) == expected.Count, TimeSpan.FromSeconds(30),
            "InfluxDB has every point");
        var points = await InfluxRowsAsync(influx, $"SELECT \"temperature\", \"key\" FROM \"telemetry\" WHERE \"key\" =~ /^{prefix}/");
        Assert.Equal(samples.Select(s => (s.Device, s.Ts, (double)s.Temperature)).Order(),
            points.Select(p => (p[2].GetString()!, p[0].GetInt64(), p[1].GetDouble())).Order());
        var windows = await InfluxRowsAsync(influx,
            $"SELECT \"temperature_count\", \"temperature_sum\", \"temperature_min\", \"temperature_max\", \"key\" FROM \"{Output}\" WHERE \"key\" =~ /^{prefix}/");
        Assert.Equal(expected.Values.Select(a => (a.Key, a.Start + WindowMs, a.Count, a.Sum, a.Min, a.Max)).Order(),
            windows.Select(w => (w[5].GetString()!, w[0].GetInt64(), (long)w[1].GetDouble(), (long)w[2].GetDouble(), (long)w[3].GetDouble(), (long)w[4].GetDouble())).Order());
    }

    /// <summary>Sends a signal (STOP, CONT) to a process with <c>kill</c>.</summary>
    private static async Task SignalAsync(int pid, string signal)
    {
        var result = await ChildProcess.RunAsync("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));
        Assert.True(result.ExitCode == 0, $"kill -{signal} {pid}: {result}");
    }

    private static async Task<IMqttClient> ConnectAsync(int port, string clientId)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, port)
            .WithClientId(clientId)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart()
            .WithTimeout(TimeSpan.FromSeconds(10))
            .Build());
        return client;
    }

    /// <summary>Publishes telemetry of <paramref name="device"/> every 100 ms until stopped: a unique <c>ts</c> (now) and a temperature.</summary>
    private static async Task PublishAsync(int port, string device, string clientId, ConcurrentQueue<Sample> published, CancellationToken stop)
    {
        using var client = await ConnectAsync(port, clientId);
        var random = new Random(device.GetHashCode(StringComparison.Ordinal));
        long last = 0;
        while (!stop.IsCancellationRequested)
        {
            var ts = Math.Max(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), last + 1);
            last = ts;
            var temperature = random.Next(-20, 40);
            var result = await client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic($"devices/{device}/telemetry")
                .WithPayload(string.Create(CultureInfo.InvariantCulture, $"{{\"ts\":{ts},\"temperature\":{temperature}}}"))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build(), CancellationToken.None);
            Assert.True(result.IsSuccess, $"{device}: PUBACK {result.ReasonCode}");
            published.Enqueue(new Sample(device, ts, temperature));
            try
            {
                await Task.Delay(PublishInterval, stop); // the pace of a device, not a wait for a result
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        await client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().Build(), CancellationToken.None);
    }

    /// <summary>The partitions of the window running on node <paramref name="i"/> (none when it is not running).</summary>
    private static async Task<List<int>> RunningOnAsync(ClusterBrokers brokers, int i)
    {
        if (!brokers.IsRunning(i))
        {
            return [];
        }

        using var json = await Http.GetFromJsonAsync<JsonDocument>(new Uri(brokers.HttpBaseAddress(i), "api/streams/telemetry/aggregations"));
        return [.. json!.RootElement.EnumerateArray()
            .Where(s => s.GetProperty("window").GetString() == Window)
            .Select(s => s.GetProperty("partition").GetInt32())
            .Order()];
    }

    private static async Task<long> LeasesHeldAsync(ClusterBrokers brokers, int i) =>
        await Cluster.Nodes.ClusterApi.MetricAsync(brokers.HttpBaseAddress(i), "iot_cluster_leases_held") ?? -1;

    /// <summary>Every partition's records of <paramref name="stream"/> from offset 0 through one node, polled until <paramref name="done"/>.</summary>
    private static async Task<Dictionary<int, List<Row>>> ReadStreamAsync(Uri node, string stream, Func<List<Row>, bool> done, TimeSpan? timeout = null)
    {
        Dictionary<int, List<Row>> partitions = [];
        await Eventually.WaitUntilAsync(async () =>
        {
            partitions = [];
            using var definition = JsonDocument.Parse(await Http.GetStringAsync(new Uri(node, $"api/streams/{stream}")));
            foreach (var partition in definition.RootElement.GetProperty("partitionOffsets").EnumerateArray())
            {
                var p = partition.GetProperty("partition").GetInt32();
                var rows = new List<Row>();
                while (true)
                {
                    var uri = new Uri(node, string.Create(CultureInfo.InvariantCulture, $"api/streams/{stream}/partitions/{p}/records?offset={rows.Count}&max=1000"));
                    using var page = JsonDocument.Parse(await Http.GetStringAsync(uri));
                    var records = page.RootElement.GetProperty("records");
                    if (records.GetArrayLength() == 0)
                    {
                        break;
                    }

                    rows.AddRange(records.EnumerateArray().Select(r => new Row(
                        r.GetProperty("offset").GetInt64(), r.GetProperty("key").GetString(), r.GetProperty("payload").Clone())));
                }

                partitions[p] = rows;
            }

            return done([.. partitions.Values.SelectMany(r => r)]);
        }, timeout ?? TimeSpan.FromSeconds(20), $"the records of '{stream}' readable through {node}");
        return partitions;
    }

    private static async Task<long> InfluxCountAsync(InfluxFixture influx, string measurement, string field, string prefix) =>
        (long)await influx.ScalarAsync($"SELECT count(\"{field}\") FROM \"{measurement}\" WHERE \"key\" =~ /^{prefix}/");

    /// <summary>The rows (time in Unix ms first) of a query's first series.</summary>
    private static async Task<List<JsonElement[]>> InfluxRowsAsync(InfluxFixture influx, string query)
    {
        var uri = new Uri(influx.Url, $"query?db={InfluxFixture.Database}&epoch=ms&q={Uri.EscapeDataString(query)}");
        using var document = JsonDocument.Parse(await influx.Http.GetStringAsync(uri));
        var result = document.RootElement.GetProperty("results")[0];
        return result.TryGetProperty("series", out var series)
            ? [.. series[0].GetProperty("values").EnumerateArray().Select(v => v.EnumerateArray().Select(e => e.Clone()).ToArray())]
            : [];
    }

    private sealed record Row(long Offset, string? Key, JsonElement Payload);

    /// <summary>Waits until aggregates of <paramref name="windows"/> windows starting at or after <paramref name="sinceMs"/> were published (the workload ran that long).</summary>
    private static Task AggregatedSinceAsync(ConcurrentQueue<Aggregate> seen, long sinceMs, int windows, string because) =>
        Eventually.WaitUntilAsync(() => seen.Where(a => a.Start >= sinceMs).Select(a => a.Start).Distinct().Count() >= windows,
            TimeSpan.FromSeconds(30), because);

    private sealed record Sample(string Device, long Ts, int Temperature);

    /// <summary>One window's result: key, start (Unix ms), count and the temperature's sum, min and max.</summary>
    private sealed record Aggregate(string Key, long Start, long Count, long Sum, long Min, long Max)
    {
        public static Aggregate Parse(JsonElement json)
        {
            var temperature = json.GetProperty("fields").GetProperty("temperature");
            return new Aggregate(json.GetProperty("key").GetString()!, json.GetProperty("start").GetDateTimeOffset().ToUnixTimeMilliseconds(),
                json.GetProperty("count").GetInt64(), (long)temperature.GetProperty("sum").GetDouble(),
                (long)temperature.GetProperty("min").GetDouble(), (long)temperature.GetProperty("max").GetDouble());
        }

        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"{Key} [{DateTimeOffset.FromUnixTimeMilliseconds(Start):HH:mm:ss.fff}] count {Count} sum {Sum} min {Min} max {Max}");
    }
}
