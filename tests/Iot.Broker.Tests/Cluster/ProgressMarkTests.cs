using Iot.Broker.Cluster;

namespace Iot.Broker.Tests.Cluster;

public sealed class ProgressMarkTests
{
    [Fact]
    public async Task AMarkAlreadyReached_CompletesAtOnce()
    {
        var mark = new ProgressMark();
        mark.Advance(5);
        await mark.WhenReachedAsync(5, CancellationToken.None);
        await mark.WhenReachedAsync(0, CancellationToken.None);
        Assert.Equal(5UL, mark.Value);
    }

    [Fact]
    public async Task AWait_CompletesWhenTheValueReachesItsMark_NotBefore()
    {
        var mark = new ProgressMark();
        var three = mark.WhenReachedAsync(3, CancellationToken.None);
        var seven = mark.WhenReachedAsync(7, CancellationToken.None);
        mark.Advance(2);
        Assert.False(three.IsCompleted);
        mark.Advance(4);
        await three;
        Assert.False(seven.IsCompleted);

        // A lower value never takes the mark back.
        mark.Advance(1);
        Assert.Equal(4UL, mark.Value);
        mark.Advance(9);
        await seven;
    }

    [Fact]
    public async Task ACancelledWait_FailsAndIsForgotten()
    {
        var mark = new ProgressMark();
        using var cancel = new CancellationTokenSource();
        var wait = mark.WhenReachedAsync(10, cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);

        // Reaching the mark later completes nothing that was cancelled, and later waits still work.
        mark.Advance(10);
        await mark.WhenReachedAsync(10, CancellationToken.None);
    }
}
