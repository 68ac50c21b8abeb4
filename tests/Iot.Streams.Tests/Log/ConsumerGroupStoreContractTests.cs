using Iot.Streams.Log;

namespace Iot.Streams.Tests.Log;

/// <summary>
/// The <see cref="IConsumerGroupStore"/> contract; every implementation inherits these tests with its own
/// <see cref="CreateStoreAsync"/> (a new, empty store) and <see cref="ReopenStoreAsync"/> (a new instance over the
/// storage of the last one created: what a restarted process, or another node, finds).
/// </summary>
public abstract class ConsumerGroupStoreContractTests
{
    /// <summary>A new, empty store.</summary>
    protected abstract Task<IConsumerGroupStore> CreateStoreAsync();

    /// <summary>Another instance over the storage of the store <see cref="CreateStoreAsync"/> made last.</summary>
    protected abstract Task<IConsumerGroupStore> ReopenStoreAsync();

    [Fact]
    public async Task CommitAsync_Reopen_OffsetsAndMetadataPerGroupAndPartitionSurvive()
    {
        var store = await CreateStoreAsync();
        Assert.True(await store.CreateAsync("dashboards"));
        Assert.False(await store.CreateAsync("dashboards"));
        await store.CommitAsync("dashboards", 0, new CommittedOffset(10, null));
        await store.CommitAsync("dashboards", 1, new CommittedOffset(3, "wm"));
        await store.CommitAsync("archive", 0, new CommittedOffset(99, null));
        Assert.Equal(new CommittedOffset(3, "wm"), store.GetCommitted("dashboards", 1));

        var reopened = await ReopenStoreAsync();
        Assert.Equal(["archive", "dashboards"], reopened.Groups);
        Assert.Equal(new CommittedOffset(10, null), reopened.GetCommitted("dashboards", 0));
        Assert.Equal(new CommittedOffset(3, "wm"), reopened.GetCommitted("dashboards", 1));
        Assert.Equal(99, reopened.GetCommitted("archive", 0)?.Offset);
        Assert.Null(reopened.GetCommitted("archive", 1));
        Assert.Null(reopened.GetCommitted("nobody", 0));
    }

    [Fact]
    public async Task DeleteAsync_RemovesGroupAndOffsetsDurably()
    {
        var store = await CreateStoreAsync();
        await store.CommitAsync("g", 0, new CommittedOffset(1, null));
        Assert.True(await store.DeleteAsync("g"));
        Assert.False(await store.DeleteAsync("g"));
        Assert.Empty(store.Groups);
        Assert.Null(store.GetCommitted("g", 0));
        Assert.Null(await store.ReadCommittedAsync("g", 0));
        Assert.Empty((await ReopenStoreAsync()).Groups);
    }

    [Fact]
    public async Task CommitAsync_InvalidName_Throws()
    {
        var store = await CreateStoreAsync();
        await Assert.ThrowsAsync<ArgumentException>(async () => await store.CommitAsync("../x", 0, new CommittedOffset(0, null)));
        await Assert.ThrowsAsync<ArgumentException>(async () => await store.CreateAsync("a b"));
    }

    [Fact]
    public async Task TryCommitAsync_ExpectedRevision_FencesAStaleWriter()
    {
        var store = await CreateStoreAsync();
        Assert.Null(await store.ReadCommittedAsync("agg", 2));

        var first = await store.TryCommitAsync("agg", 2, new CommittedOffset(5, "w1"), expectedRevision: 0);
        Assert.NotNull(first);
        Assert.Null(await store.TryCommitAsync("agg", 2, new CommittedOffset(6, "late"), expectedRevision: 0));

        var second = await store.TryCommitAsync("agg", 2, new CommittedOffset(7, "w2"), first.Value);
        Assert.NotNull(second);
        Assert.True(second > first);

        // The former owner still holds the first revision: fenced, and nothing changes.
        Assert.Null(await store.TryCommitAsync("agg", 2, new CommittedOffset(6, "stale"), first.Value));
        Assert.Equal(new RevisedOffset(new CommittedOffset(7, "w2"), second.Value), await store.ReadCommittedAsync("agg", 2));
        Assert.Equal(new CommittedOffset(7, "w2"), store.GetCommitted("agg", 2));
        Assert.Contains("agg", store.Groups);

        var reopened = await ReopenStoreAsync();
        Assert.Equal(new RevisedOffset(new CommittedOffset(7, "w2"), second.Value), await reopened.ReadCommittedAsync("agg", 2));
        Assert.NotNull(await reopened.TryCommitAsync("agg", 2, new CommittedOffset(8, null), second.Value));
    }

    [Fact]
    public async Task CommitAsync_Unconditional_RaisesTheRevisionSoTheOldOneIsFenced()
    {
        var store = await CreateStoreAsync();
        var first = await store.TryCommitAsync("g", 0, new CommittedOffset(1, null), 0);
        await store.CommitAsync("g", 0, new CommittedOffset(2, null));

        var read = await store.ReadCommittedAsync("g", 0);
        Assert.Equal(2, read!.Value.Offset.Offset);
        Assert.True(read.Value.Revision > first);
        Assert.Null(await store.TryCommitAsync("g", 0, new CommittedOffset(3, null), first!.Value));
    }

    [Fact]
    public async Task TryCommitAsync_PartitionsAreFencedIndependently()
    {
        var store = await CreateStoreAsync();
        var p0 = await store.TryCommitAsync("g", 0, new CommittedOffset(1, null), 0);
        var p1 = await store.TryCommitAsync("g", 1, new CommittedOffset(1, null), 0);
        Assert.NotNull(p0);
        Assert.NotNull(p1);
        Assert.NotNull(await store.TryCommitAsync("g", 0, new CommittedOffset(2, null), p0.Value));
        Assert.NotNull(await store.TryCommitAsync("g", 1, new CommittedOffset(2, null), p1.Value));
    }
}
