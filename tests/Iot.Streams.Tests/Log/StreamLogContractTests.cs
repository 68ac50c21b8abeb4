using System.Text;
using Iot.Streams.Log;

namespace Iot.Streams.Tests.Log;

/// <summary>The <see cref="IStreamLog"/> contract; every implementation inherits these tests with its own <see cref="CreateLogAsync"/>.</summary>
public abstract class StreamLogContractTests
{
    protected static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>A new, empty log.</summary>
    protected abstract Task<IStreamLog> CreateLogAsync();

    protected static AppendRecord Record(int i, DateTimeOffset? at = null, string? key = "dev-1") =>
        new(at ?? T0.AddSeconds(i), key, "devices/dev-1/telemetry", Encoding.UTF8.GetBytes($"{{\"i\":{i}}}"));

    [Fact]
    public async Task AppendAsync_Sequential_AssignsGapFreeOffsetsFromZero()
    {
        await using var log = await CreateLogAsync();
        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(i, await log.AppendAsync(Record(i)));
        }

        Assert.Equal(0, log.StartOffset);
        Assert.Equal(10, log.NextOffset);
    }

    [Fact]
    public async Task AppendAsync_Concurrent_EveryOffsetOnceAndReadBackInOrder()
    {
        await using var log = await CreateLogAsync();
        var offsets = await Task.WhenAll(Enumerable.Range(0, 500).Select(i => log.AppendAsync(Record(i)).AsTask()));
        Assert.Equal(Enumerable.Range(0, 500).Select(i => (long)i), offsets.Order());

        var records = await log.ReadAsync(0, 1000);
        Assert.Equal(500, records.Count);
        Assert.Equal(Enumerable.Range(0, 500).Select(i => (long)i), records.Select(r => r.Offset));
    }

    [Fact]
    public async Task ReadAsync_FromOffset_ReturnsRecordFieldsAndHonoursMax()
    {
        await using var log = await CreateLogAsync();
        for (int i = 0; i < 20; i++)
        {
            await log.AppendAsync(Record(i));
        }

        var records = await log.ReadAsync(5, 3);
        Assert.Equal([5L, 6L, 7L], records.Select(r => r.Offset));
        Assert.Equal("dev-1", records[0].Key);
        Assert.Equal("devices/dev-1/telemetry", records[0].Topic);
        Assert.Equal(T0.AddSeconds(5), records[0].Timestamp);
        Assert.Equal("{\"i\":5}", Encoding.UTF8.GetString(records[0].Payload.Span));
        Assert.Empty(await log.ReadAsync(20, 10));
    }

    [Fact]
    public async Task AppendAsync_NullKeyAndTopic_RoundTrip()
    {
        await using var log = await CreateLogAsync();
        await log.AppendAsync(new AppendRecord(T0, null, null, ReadOnlyMemory<byte>.Empty));
        var record = Assert.Single(await log.ReadAsync(0, 10));
        Assert.Null(record.Key);
        Assert.Null(record.Topic);
        Assert.True(record.Payload.IsEmpty);
    }

    [Fact]
    public async Task FindOffsetAsync_Time_FirstRecordAtOrAfter()
    {
        await using var log = await CreateLogAsync();
        for (int i = 0; i < 100; i++)
        {
            await log.AppendAsync(Record(i));
        }

        Assert.Equal(0, await log.FindOffsetAsync(T0.AddHours(-1)));
        Assert.Equal(42, await log.FindOffsetAsync(T0.AddSeconds(42)));
        Assert.Equal(43, await log.FindOffsetAsync(T0.AddSeconds(42.5)));
        Assert.Equal(100, await log.FindOffsetAsync(T0.AddHours(1)));
    }

    [Fact]
    public async Task WaitForRecordsAsync_CompletesWhenARecordIsAppended()
    {
        await using var log = await CreateLogAsync();
        var wait = log.WaitForRecordsAsync(0).AsTask();
        Assert.False(wait.IsCompleted);
        await log.AppendAsync(Record(0));
        await wait.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
