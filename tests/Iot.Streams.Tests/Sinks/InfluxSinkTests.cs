using System.Text;
using Iot.Streams.Log;
using Iot.Streams.Sinks.Influx;
using Iot.TestUtilities;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Iot.Streams.Tests.Sinks;

[Collection(InfluxServer.Name)]
[Trait("Category", "Integration")]
#pragma warning disable CA1001 // Disposed by xunit through IAsyncLifetime.DisposeAsync.
public sealed class InfluxSinkTests(InfluxFixture influx) : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly TempDir _dir = new();
    private readonly string _stream = "s" + Guid.NewGuid().ToString("N")[..12];
    private FileStreamStore _store = null!;

    public Task InitializeAsync()
    {
        _store = new FileStreamStore(_dir.Path, _ => new SegmentLogOptions());
        _store.TryCreate(new StreamDefinition { Name = _stream, Partitions = 2 }, out _);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        _dir.Dispose();
    }

    private InfluxSinkOptions Options(int batchSize = 100) => new()
    {
        Enabled = true,
        Url = influx.Url,
        Database = InfluxFixture.Database,
        Streams = [_stream],
        BatchSize = batchSize,
        FlushInterval = TimeSpan.FromMilliseconds(50),
        MinRetryDelay = TimeSpan.FromMilliseconds(50),
        MaxRetryDelay = TimeSpan.FromMilliseconds(400),
        RequestTimeout = TimeSpan.FromSeconds(2),
    };

    private InfluxSinkService CreateSink(InfluxSinkOptions options) =>
        new(_store, new InfluxV1Writer(influx.Http, options, TimeProvider.System), Microsoft.Extensions.Options.Options.Create(options), TimeProvider.System, Iot.Messaging.Leases.LocalSingletonLeases.Instance,
            NullLogger<InfluxSinkService>.Instance);

    private async Task AppendAsync(int from, int count, string body = "\"temperature\":{0},\"humidity\":50")
    {
        for (int i = from; i < from + count; i++)
        {
            var device = $"dev-{i % 10}";
            var payload = "{" + string.Format(System.Globalization.CultureInfo.InvariantCulture, body, i) + $",\"ts\":{T0.AddSeconds(i).ToUnixTimeMilliseconds()}}}";
            await _store.GetPartition(_stream, i % 2).AppendAsync(new AppendRecord(T0.AddSeconds(i), device, $"devices/{device}/telemetry", Encoding.UTF8.GetBytes(payload)));
        }
    }

    private Task<double> CountAsync() => influx.ScalarAsync($"SELECT count(temperature) FROM \"{_stream}\"");

    private long Committed(int partition) => _store.GetGroups(_stream).GetCommitted(InfluxSinkService.GroupName, partition)?.Offset ?? 0;

    [Fact]
    public async Task Sink_Records_WrittenAsPointsAndCommittedAfterAcceptance()
    {
        await AppendAsync(0, 250);
        var sink = CreateSink(Options());
        await sink.StartAsync(CancellationToken.None);
        try
        {
            await Poll.UntilAsync(async () => await CountAsync() == 250, TimeSpan.FromSeconds(30), "250 points in influxd");
            await Poll.UntilAsync(() => Committed(0) == 125 && Committed(1) == 125, TimeSpan.FromSeconds(10), "offsets committed");
            Assert.Equal(25, (await influx.ScalarAsync($"SELECT count(temperature) FROM \"{_stream}\" WHERE \"key\" = 'dev-3'")));
            Assert.Equal(0, sink.PointsRejected);
        }
        finally
        {
            await sink.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Sink_InfluxdStoppedMidway_RetriesAndLosesNoPoint()
    {
        var sink = CreateSink(Options(batchSize: 20));
        await sink.StartAsync(CancellationToken.None);
        try
        {
            await AppendAsync(0, 100);
            await Poll.UntilAsync(async () => await CountAsync() == 100, TimeSpan.FromSeconds(30), "first 100 points");

            await influx.StopAsync();
            await AppendAsync(100, 200);
            await Poll.UntilAsync(() => sink.FailedWrites > 2, TimeSpan.FromSeconds(30), "writes failing while influxd is down");
            Assert.True(Committed(0) + Committed(1) <= 100, "nothing written during the outage may be committed");
            await Poll.UntilAsync(() => sink.Lag.RecordsBehind == 200, TimeSpan.FromSeconds(10), "the lag counts the 200 waiting records");

            await influx.RestartAsync();
            await Poll.UntilAsync(async () => await CountAsync() == 300, TimeSpan.FromSeconds(60), "all 300 points after the outage");
            await Poll.UntilAsync(() => Committed(0) == 150 && Committed(1) == 150, TimeSpan.FromSeconds(10), "offsets committed");
            await Poll.UntilAsync(() => sink.Lag.RecordsBehind == 0, TimeSpan.FromSeconds(10), "no lag once caught up");
            Assert.NotNull(sink.Lag.LastWriteAt);
        }
        finally
        {
            await sink.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Sink_FieldTypeConflict_RejectedCountedAndSkipped()
    {
        // "mode" exists as a string field in the same shard (time range); the stream's numeric "mode" conflicts with it.
        using (var response = await influx.Http.PostAsync(new Uri(influx.Url, $"write?db={InfluxFixture.Database}&precision=ms"),
            new StringContent($"{_stream},key=x mode=\"auto\" {T0.ToUnixTimeMilliseconds()}")))
        {
            response.EnsureSuccessStatusCode();
        }

        await AppendAsync(0, 1, "\"temperature\":{0},\"mode\":1");
        var sink = CreateSink(Options(batchSize: 1));
        await sink.StartAsync(CancellationToken.None);
        try
        {
            await Poll.UntilAsync(() => sink.PointsRejected == 1, TimeSpan.FromSeconds(30), "the conflicting point rejected");
            await AppendAsync(1, 10);
            await Poll.UntilAsync(async () => await CountAsync() == 10, TimeSpan.FromSeconds(30), "later points still written");
            await Poll.UntilAsync(() => Committed(0) == 6 && Committed(1) == 5, TimeSpan.FromSeconds(10), "offsets past the rejected point");
        }
        finally
        {
            await sink.StopAsync(CancellationToken.None);
        }
    }
}
#pragma warning restore CA1001
