using Iot.Streams.Log;

namespace Iot.Streams.Tests.Log;

public sealed class ConsumerGroupStoreTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task CommitAsync_Reopen_OffsetsAndMetadataPerGroupAndPartitionSurvive()
    {
        var store = new ConsumerGroupStore(_dir.Path);
        Assert.True(await store.CreateAsync("dashboards"));
        Assert.False(await store.CreateAsync("dashboards"));
        await store.CommitAsync("dashboards", 0, new CommittedOffset(10, null));
        await store.CommitAsync("dashboards", 1, new CommittedOffset(3, "wm"));
        await store.CommitAsync("archive", 0, new CommittedOffset(99, null));

        var reopened = new ConsumerGroupStore(_dir.Path);
        Assert.Equal(["archive", "dashboards"], reopened.Groups);
        Assert.Equal(new CommittedOffset(10, null), reopened.GetCommitted("dashboards", 0));
        Assert.Equal(new CommittedOffset(3, "wm"), reopened.GetCommitted("dashboards", 1));
        Assert.Equal(99, reopened.GetCommitted("archive", 0)?.Offset);
        Assert.Null(reopened.GetCommitted("archive", 1));
    }

    [Fact]
    public async Task DeleteAsync_RemovesGroupDurably()
    {
        var store = new ConsumerGroupStore(_dir.Path);
        await store.CommitAsync("g", 0, new CommittedOffset(1, null));
        Assert.True(await store.DeleteAsync("g"));
        Assert.False(await store.DeleteAsync("g"));
        Assert.Empty(new ConsumerGroupStore(_dir.Path).Groups);
    }

    [Fact]
    public async Task CommitAsync_InvalidName_Throws() =>
        await Assert.ThrowsAsync<ArgumentException>(async () => await new ConsumerGroupStore(_dir.Path).CommitAsync("../x", 0, new CommittedOffset(0, null)));

    [Fact]
    public async Task TwoGroups_ReadTheSamePartitionIndependently()
    {
        await using var store = new FileStreamStore(_dir.Combine("streams"), _ => new SegmentLogOptions());
        store.TryCreate(new StreamDefinition { Name = "s", Partitions = 1 }, out _);
        var log = store.GetPartition("s", 0);
        for (int i = 0; i < 10; i++)
        {
            await log.AppendAsync(new AppendRecord(DateTimeOffset.UnixEpoch, "k", null, new byte[] { (byte)i }));
        }

        var groups = store.GetGroups("s");
        await groups.CommitAsync("a", 0, new CommittedOffset(8, null));
        await groups.CommitAsync("b", 0, new CommittedOffset(2, null));
        Assert.Equal(2, (await log.ReadAsync(groups.GetCommitted("a", 0)!.Value.Offset, 100)).Count);
        Assert.Equal(8, (await log.ReadAsync(groups.GetCommitted("b", 0)!.Value.Offset, 100)).Count);
    }
    [Fact]
    public async Task Open_UnreadableStreamDefinitionAndGroupFile_CostOnlyThemselves()
    {
        var root = _dir.Combine("streams");
        await using (var first = new FileStreamStore(root, _ => new SegmentLogOptions()))
        {
            first.TryCreate(new StreamDefinition { Name = "good", Partitions = 1 }, out _);
            await first.GetGroups("good").CommitAsync("g1", 0, new CommittedOffset(5, null));
        }

        Directory.CreateDirectory(Path.Combine(root, "broken"));
        await File.WriteAllTextAsync(Path.Combine(root, "broken", "stream.json"), "{\"Name\": ");
        await File.WriteAllTextAsync(Path.Combine(root, "good", "groups", "g2.json"), "[{");

        await using var store = new FileStreamStore(root, _ => new SegmentLogOptions());
        Assert.Equal(["good"], store.Streams.Select(s => s.Name));
        Assert.Equal(5, store.GetGroups("good").GetCommitted("g1", 0)!.Value.Offset);
        Assert.Equal(2, store.SkippedFiles.Count);
        Assert.Contains(store.SkippedFiles, f => f.File.EndsWith(Path.Combine("broken", "stream.json"), StringComparison.Ordinal));
        Assert.Contains(store.SkippedFiles, f => f.File.EndsWith("g2.json", StringComparison.Ordinal));
    }
}
