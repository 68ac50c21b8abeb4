using Iot.Streams.Log;

namespace Iot.Streams.Tests.Log;

/// <summary>The consumer group contract on the file store, and what only the file store does.</summary>
public sealed class ConsumerGroupStoreTests : ConsumerGroupStoreContractTests, IDisposable
{
    private readonly TempDir _dir = new();
    private int _stores;

    public void Dispose() => _dir.Dispose();

    protected override Task<IConsumerGroupStore> CreateStoreAsync() => Task.FromResult<IConsumerGroupStore>(new ConsumerGroupStore(_dir.Combine($"g{++_stores}")));

    protected override Task<IConsumerGroupStore> ReopenStoreAsync() => Task.FromResult<IConsumerGroupStore>(new ConsumerGroupStore(_dir.Combine($"g{_stores}")));

    [Fact]
    public async Task Open_EntryWrittenBeforeRevisions_ReadsAsRevisionOne()
    {
        var directory = _dir.Combine("old");
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, "g.json"), "[{\"Partition\":0,\"Offset\":4,\"Metadata\":null}]");

        var store = new ConsumerGroupStore(directory);
        Assert.Equal(new RevisedOffset(new CommittedOffset(4, null), 1), await store.ReadCommittedAsync("g", 0));
        Assert.Null(await store.TryCommitAsync("g", 0, new CommittedOffset(5, null), 0));
        Assert.Equal(2, await store.TryCommitAsync("g", 0, new CommittedOffset(5, null), 1));
    }

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
