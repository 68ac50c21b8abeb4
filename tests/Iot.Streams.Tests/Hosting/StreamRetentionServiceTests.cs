using System.Text;
using Iot.Streams.Hosting;
using Iot.Streams.Log;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Streams.Tests.Hosting;

/// <summary>Retention by age on a timer: a partition nobody writes to any more ages out all the same.</summary>
public sealed class StreamRetentionServiceTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static AppendRecord Record(DateTimeOffset at) => new(at, "dev-1", "devices/dev-1/telemetry", Encoding.UTF8.GetBytes("{\"t\":1}"));

    private FileStreamStore OpenStore(FakeTimeProvider time) => new(_dir.Combine("streams"), definition => new SegmentLogOptions
    {
        TimeProvider = time,
        RetentionAge = definition.RetentionAge,
        SegmentMaxAge = TimeSpan.FromDays(1),
        RetentionCheckInterval = TimeSpan.FromMinutes(1),
    });

    private static StreamRetentionService Service(IStreamStore store, FakeTimeProvider time) =>
        new(store, Options.Create(new StreamsOptions { RetentionCheckInterval = TimeSpan.FromMinutes(1) }), time, NullLogger<StreamRetentionService>.Instance);

    [Fact]
    public async Task Timer_IdlePartitionAgesOut_WrittenPartitionKeepsItsRecentRecords()
    {
        var time = new FakeTimeProvider(T0);
        await using var store = OpenStore(time);
        Assert.True(store.TryCreate(new StreamDefinition { Name = "s", Partitions = 2, RetentionAge = TimeSpan.FromHours(1) }, out _));
        var idle = store.GetPartition("s", 0);
        var busy = store.GetPartition("s", 1);
        for (int i = 0; i < 5; i++)
        {
            await idle.AppendAsync(Record(T0));
            await busy.AppendAsync(Record(T0));
        }

        time.Advance(TimeSpan.FromMinutes(30));
        await busy.AppendAsync(Record(time.GetUtcNow()));

        var service = Service(store, time);
        await service.StartAsync(CancellationToken.None);
        try
        {
            // Past the hour for the records of T0; the busy partition's segment holds a record of T0+30min, so it stays.
            time.Advance(TimeSpan.FromMinutes(31));
            await Poll.UntilAsync(() => idle.StartOffset == 5, TimeSpan.FromSeconds(30), "the idle partition's records aged out on the timer");
            Assert.Equal(5, idle.NextOffset);
            Assert.Empty(await idle.ReadAsync(0, 10));
            Assert.Equal(0, busy.StartOffset);
            Assert.Equal(6, (await busy.ReadAsync(0, 10)).Count);

            // Once its newest record is an hour old too, the busy partition empties on a later tick.
            time.Advance(TimeSpan.FromMinutes(30));
            await Poll.UntilAsync(() => busy.StartOffset == 6, TimeSpan.FromSeconds(30), "the other partition aged out on a later tick");
        }
        finally
        {
            await service.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Sweep_BeforeTheAge_RemovesNothing_AfterIt_CountsWhatItRemoved()
    {
        var time = new FakeTimeProvider(T0);
        await using var store = OpenStore(time);
        store.TryCreate(new StreamDefinition { Name = "a", Partitions = 1, RetentionAge = TimeSpan.FromMinutes(10) }, out _);
        store.TryCreate(new StreamDefinition { Name = "b", Partitions = 3, RetentionAge = TimeSpan.FromMinutes(10) }, out _);
        await store.GetPartition("a", 0).AppendAsync(Record(T0));
        await store.GetPartition("b", 2).AppendAsync(Record(T0));
        await store.GetPartition("b", 2).AppendAsync(Record(T0));
        var service = Service(store, time);

        time.Advance(TimeSpan.FromMinutes(9));
        Assert.Equal(0, await service.SweepAsync(CancellationToken.None));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(3, await service.SweepAsync(CancellationToken.None));
        Assert.Equal(0, await service.SweepAsync(CancellationToken.None));
    }

    [Theory]
    [InlineData("00:00:00.500")]
    [InlineData("1.00:00:01")]
    public void Validator_IntervalOutOfRange_NamesTheSetting(string interval)
    {
        var result = new StreamsOptionsValidator().Validate(null, new StreamsOptions { RetentionCheckInterval = TimeSpan.Parse(interval, System.Globalization.CultureInfo.InvariantCulture) });
        Assert.True(result.Failed);
        Assert.Contains("Iot:Streams:RetentionCheckInterval", result.FailureMessage, StringComparison.Ordinal);
    }
}
