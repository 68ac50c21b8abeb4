using Iot.Messaging.Crossover;
using Iot.Streams.Crossover;
using Iot.Streams.Log;
using Iot.TestUtilities;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Streams.Tests.Crossover;

public sealed class StreamCrossoverTests : IDisposable
{
    private static readonly CrossoverOptions Options = new() { StreamLagThreshold = 5, RepeatPeriod = TimeSpan.FromMinutes(5), SinkFailureThreshold = TimeSpan.FromMinutes(1) };
    private readonly TempDir _dir = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
    private readonly RecordingCrossoverEvents _events = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task LagDetector_GroupBehindThreshold_OneEventPerPeriod_AgainAtOnceAfterCatchingUp()
    {
        await using var store = new FileStreamStore(_dir.Combine("streams"), _ => new SegmentLogOptions());
        Assert.True(store.TryCreate(new StreamDefinition { Name = "telemetry", Partitions = 2 }, out _));
        var groups = store.GetGroups("telemetry");
        await groups.CreateAsync("analytics");
        await groups.CreateAsync("fast");
        var detector = new StreamLagDetector(store, _events, Options, _time);

        await AppendAsync(store, partition: 0, count: 3);
        await AppendAsync(store, partition: 1, count: 2);
        await groups.CommitAsync("fast", 0, new CommittedOffset(3, null));
        await groups.CommitAsync("fast", 1, new CommittedOffset(2, null));
        await detector.CheckAsync(CancellationToken.None);
        var raised = Assert.Single(_events.Raised);
        Assert.Equal((CrossoverTypes.StreamConsumerLagExceeded, "/iot/streams", "$iot/streams/telemetry/groups/analytics"),
            (raised.Type, raised.Source, raised.Subject));
        Assert.Equal((5L, 5L), (raised.Data["lag"]!.GetValue<long>(), raised.Data["threshold"]!.GetValue<long>()));
        Assert.Equal(2, raised.Data["partitions"]!.AsArray().Count);

        await detector.CheckAsync(CancellationToken.None);
        Assert.Single(_events.Raised);
        _time.Advance(TimeSpan.FromMinutes(5));
        await detector.CheckAsync(CancellationToken.None);
        Assert.Equal(2, _events.Raised.Count);

        // It catches up, then falls behind again: raised at once.
        await groups.CommitAsync("analytics", 0, new CommittedOffset(3, null));
        await groups.CommitAsync("analytics", 1, new CommittedOffset(2, null));
        await detector.CheckAsync(CancellationToken.None);
        await AppendAsync(store, partition: 0, count: 5);
        await groups.CommitAsync("fast", 0, new CommittedOffset(8, null));
        await detector.CheckAsync(CancellationToken.None);
        Assert.Equal(3, _events.Raised.Count);
        Assert.All(_events.Raised, e => Assert.EndsWith("/analytics", e.Subject, StringComparison.Ordinal));
    }

    [Fact]
    public void SinkCrossover_RaisedOnlyAfterThreshold_OncePerPeriodPerStream()
    {
        var sink = new SinkCrossover(_events, Options, _time);
        var since = _time.GetTimestamp();
        sink.WriteFailed("influx", "telemetry", 0, since, "connection refused", 1);
        _time.Advance(TimeSpan.FromSeconds(59));
        sink.WriteFailed("influx", "telemetry", 0, since, "connection refused", 2);
        Assert.Empty(_events.Raised);

        _time.Advance(TimeSpan.FromSeconds(1));
        sink.WriteFailed("influx", "telemetry", 1, since, "connection refused", 3);
        sink.WriteFailed("influx", "telemetry", 0, since, "connection refused", 4);
        var raised = Assert.Single(_events.Raised);
        Assert.Equal((CrossoverTypes.SinkFailing, "/iot/sinks/influx", "$iot/sinks/influx/telemetry"), (raised.Type, raised.Source, raised.Subject));
        Assert.Equal((60.0, "connection refused", 3L), (raised.Data["failingSeconds"]!.GetValue<double>(),
            raised.Data["lastError"]!.GetValue<string>(), raised.Data["failedWrites"]!.GetValue<long>()));

        _time.Advance(TimeSpan.FromMinutes(5));
        sink.WriteFailed("influx", "telemetry", 0, since, "HTTP 503", 9);
        Assert.Equal(2, _events.Raised.Count);
    }

    private static async Task AppendAsync(FileStreamStore store, int partition, int count)
    {
        var log = store.GetPartition("telemetry", partition);
        for (int i = 0; i < count; i++)
        {
            await log.AppendAsync(new AppendRecord(DateTimeOffset.UtcNow, "d1", "devices/d1/telemetry", "{\"t\":1}"u8.ToArray()));
        }
    }
}
