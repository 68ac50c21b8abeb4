using Iot.Streams.Log;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Streams.Tests.Log;

public sealed class SegmentLogTests : StreamLogContractTests, IDisposable
{
    private readonly TempDir _dir = new();
    private int _logs;

    public void Dispose() => _dir.Dispose();

    protected override Task<IStreamLog> CreateLogAsync() => Task.FromResult<IStreamLog>(SegmentLog.Open(_dir.Combine($"log{_logs++}"), SmallSegments()));

    private static SegmentLogOptions SmallSegments(TimeProvider? time = null, long? retentionBytes = null) => new()
    {
        SegmentBytes = 2048,
        IndexIntervalBytes = 256,
        TimeProvider = time ?? TimeProvider.System,
        SegmentMaxAge = TimeSpan.FromDays(3650),
        RetentionAge = TimeSpan.FromDays(3650),
        RetentionBytes = retentionBytes,
    };

    [Fact]
    public async Task Open_AfterRestart_KeepsRecordsAndContinuesOffsetsAcrossSegments()
    {
        var path = _dir.Combine("restart");
        await using (var log = SegmentLog.Open(path, SmallSegments()))
        {
            for (int i = 0; i < 200; i++)
            {
                await log.AppendAsync(Record(i));
            }

            Assert.True(log.SegmentCount > 3);
        }

        await using var reopened = SegmentLog.Open(path, SmallSegments());
        Assert.Equal(200, reopened.NextOffset);
        Assert.Equal(200, await reopened.AppendAsync(Record(200)));
        var all = await reopened.ReadAsync(0, 1000);
        Assert.Equal(Enumerable.Range(0, 201).Select(i => (long)i), all.Select(r => r.Offset));
        Assert.Equal(150, await reopened.FindOffsetAsync(T0.AddSeconds(150)));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(30)]
    public async Task Open_TornTail_CutsTheTornRecordAndKeepsTheRest(int cut)
    {
        var path = _dir.Combine($"torn{cut}");
        await using (var log = SegmentLog.Open(path, SmallSegments()))
        {
            for (int i = 0; i < 5; i++)
            {
                await log.AppendAsync(Record(i));
            }
        }

        var file = Directory.GetFiles(path, "*.log").Order().Last();
        var length = new FileInfo(file).Length;
        using (var stream = new FileStream(file, FileMode.Open))
        {
            stream.SetLength(length - cut);
        }

        await using var reopened = SegmentLog.Open(path, SmallSegments());
        Assert.Equal(4, reopened.NextOffset);
        Assert.Equal(4, (await reopened.ReadAsync(0, 10)).Count);
        var recovered = Assert.NotNull(reopened.RecoveryCut);
        Assert.Equal(file, recovered.File);
        Assert.Equal(length - cut, recovered.Position + recovered.Bytes);
        Assert.Equal(4, await reopened.AppendAsync(Record(4)));
    }

    [Fact]
    public async Task Open_WholeLog_CutsNothing()
    {
        var path = _dir.Combine("whole");
        await using (var log = SegmentLog.Open(path, SmallSegments()))
        {
            await log.AppendAsync(Record(0));
        }

        await using var reopened = SegmentLog.Open(path, SmallSegments());
        Assert.Null(reopened.RecoveryCut);
    }

    [Fact]
    public async Task Open_CorruptTail_CutsAtTheFirstBadCrc()
    {
        var path = _dir.Combine("crc");
        await using (var log = SegmentLog.Open(path, SmallSegments()))
        {
            for (int i = 0; i < 5; i++)
            {
                await log.AppendAsync(Record(i));
            }
        }

        var file = Directory.GetFiles(path, "*.log").Order().Last();
        var bytes = await File.ReadAllBytesAsync(file);
        bytes[^2] ^= 0xFF;
        await File.WriteAllBytesAsync(file, [.. bytes, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

        await using var reopened = SegmentLog.Open(path, SmallSegments());
        Assert.Equal(4, reopened.NextOffset);
    }

    [Fact]
    public async Task ApplyRetentionAsync_OverSize_RemovesOldestSegmentsButNeverTheActiveOne()
    {
        await using var log = SegmentLog.Open(_dir.Combine("size"), SmallSegments(retentionBytes: 4096));
        for (int i = 0; i < 300; i++)
        {
            await log.AppendAsync(Record(i));
        }

        var removed = await log.ApplyRetentionAsync();
        Assert.True(removed > 0);
        Assert.Equal(removed, log.StartOffset);
        var records = await log.ReadAsync(0, 1000);
        Assert.Equal(log.StartOffset, records[0].Offset);
        Assert.Equal(299, records[^1].Offset);
    }

    [Fact]
    public async Task ApplyRetentionAsync_OlderThanAge_RemovesExpiredSegments()
    {
        var time = new FakeTimeProvider(T0);
        var options = new SegmentLogOptions
        {
            SegmentBytes = 1024, IndexIntervalBytes = 256, TimeProvider = time, RetentionAge = TimeSpan.FromHours(1),
            SegmentMaxAge = TimeSpan.FromDays(1),
        };
        await using var log = SegmentLog.Open(_dir.Combine("age"), options);
        for (int i = 0; i < 100; i++)
        {
            await log.AppendAsync(Record(i, T0));
        }

        Assert.Equal(0, await log.ApplyRetentionAsync());
        time.Advance(TimeSpan.FromHours(2));
        await log.AppendAsync(Record(100, time.GetUtcNow()));
        // The writer loop may already have applied retention after that append (its check interval passed).
        await log.ApplyRetentionAsync();
        Assert.True(log.StartOffset > 0);
        Assert.Equal(log.StartOffset, (await log.ReadAsync(0, 1))[0].Offset);
    }

    [Fact]
    public async Task ApplyRetentionAsync_PartitionNoLongerWritten_ActiveSegmentAgesOutAndOffsetsGoOn()
    {
        var time = new FakeTimeProvider(T0);
        var path = _dir.Combine("idle");
        var options = new SegmentLogOptions
        {
            SegmentBytes = 1024 * 1024, IndexIntervalBytes = 256, TimeProvider = time, RetentionAge = TimeSpan.FromHours(1),
            SegmentMaxAge = TimeSpan.FromDays(1),
        };
        await using (var log = SegmentLog.Open(path, options))
        {
            for (int i = 0; i < 10; i++)
            {
                await log.AppendAsync(Record(i, T0));
            }

            // Everything is in the active segment, which nothing seals: only its age can remove it.
            Assert.Equal(1, log.SegmentCount);
            time.Advance(TimeSpan.FromMinutes(59));
            Assert.Equal(0, await log.ApplyRetentionAsync());
            Assert.Equal(0, log.StartOffset);

            time.Advance(TimeSpan.FromMinutes(2));
            Assert.Equal(10, await log.ApplyRetentionAsync());
            Assert.Equal((10, 10), (log.StartOffset, log.NextOffset));
            Assert.Empty(await log.ReadAsync(0, 100));
            Assert.Single(Directory.GetFiles(path, "*.log"));

            Assert.Equal(10, await log.AppendAsync(Record(10, time.GetUtcNow())));
        }

        await using var reopened = SegmentLog.Open(path, options);
        Assert.Equal((10, 11), (reopened.StartOffset, reopened.NextOffset));
        Assert.Equal(10, Assert.Single(await reopened.ReadAsync(0, 100)).Offset);
    }

    [Fact]
    public async Task ApplyRetentionAsync_AfterDispose_ObjectDisposed()
    {
        var log = SegmentLog.Open(_dir.Combine("closed"), SmallSegments());
        await log.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await log.ApplyRetentionAsync());
    }
}
