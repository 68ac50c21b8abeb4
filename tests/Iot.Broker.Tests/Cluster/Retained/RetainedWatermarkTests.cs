using Iot.Broker.Cluster.Retained;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Broker.Tests.Cluster.Retained;

/// <summary>Issue 18, done-when 5: when this node's retained index may be read for a SUBSCRIBE.</summary>
public sealed class RetainedWatermarkTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private readonly FakeTimeProvider _time = new();
    private readonly RetainedWatermark _watermark;

    public RetainedWatermarkTests() => _watermark = new RetainedWatermark(_time);

    [Fact]
    public void WaitAsync_ForNothingOrWhatIsApplied_CompletesAtOnce()
    {
        Assert.True(_watermark.WaitAsync(0, Timeout).IsCompletedSuccessfully);
        _watermark.Applied(1, pending: 5);
        Assert.True(_watermark.WaitAsync(1, Timeout).IsCompletedSuccessfully);
        Assert.Equal(0, _watermark.Waiting);
    }

    [Fact]
    public async Task Applied_InSequence_ReleasesEachWaiterWhenItsTargetIsReached()
    {
        var two = _watermark.WaitAsync(2, Timeout);
        var three = _watermark.WaitAsync(3, Timeout);
        _watermark.Applied(1, pending: 9);
        Assert.False(two.IsCompleted);
        _watermark.Applied(2, pending: 8);
        await two;
        Assert.False(three.IsCompleted);
        _watermark.Applied(3, pending: 7);
        await three;
        Assert.Equal(0, _watermark.Waiting);
    }

    [Fact]
    public async Task Applied_AfterAGap_IsNotConsistentUntilNothingIsPending()
    {
        // Sequence 2 was replaced (one message per subject) before the consumer got to it; its topic's newer value
        // comes later, so having applied 3 does not mean the index holds the stream's state at 3.
        _watermark.Applied(1, pending: 3);
        var wait = _watermark.WaitAsync(3, Timeout);
        _watermark.Applied(3, pending: 2);
        Assert.Equal(1UL, _watermark.Consistent);
        Assert.Equal(3UL, _watermark.LastApplied);
        Assert.False(wait.IsCompleted);

        _watermark.Applied(4, pending: 1);
        Assert.False(wait.IsCompleted);
        _watermark.Applied(6, pending: 0);
        await wait;
        Assert.Equal(6UL, _watermark.Consistent);

        // Back in sequence after catching up.
        _watermark.Applied(7, pending: 4);
        Assert.Equal(7UL, _watermark.Consistent);
    }

    [Fact]
    public async Task Applied_FirstMessagesAtStartUp_CountOnlyOnceCaughtUp()
    {
        // At start-up the stream begins wherever its oldest surviving message is.
        var wait = _watermark.WaitAsync(40, Timeout);
        _watermark.Applied(17, pending: 2);
        _watermark.Applied(25, pending: 1);
        Assert.Equal(0UL, _watermark.Consistent);
        _watermark.Applied(40, pending: 0);
        await wait;
    }

    [Fact]
    public async Task WaitAsync_WhenTheTimeoutPassesFirst_FaultsWithTimeoutException()
    {
        _watermark.Applied(1, pending: 0);
        var wait = _watermark.WaitAsync(5, Timeout);
        _time.Advance(Timeout - TimeSpan.FromMilliseconds(1));
        Assert.False(wait.IsCompleted);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        var error = await Assert.ThrowsAsync<TimeoutException>(() => wait);
        Assert.Contains("sequence 5", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, _watermark.Waiting);

        // A later catch-up does not resurrect it.
        _watermark.Applied(5, pending: 0);
        Assert.True(wait.IsFaulted);
    }

    [Fact]
    public async Task WaitAsync_Canceled_EndsTheWait()
    {
        using var cancel = new CancellationTokenSource();
        var wait = _watermark.WaitAsync(5, Timeout, cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait);
        Assert.Equal(0, _watermark.Waiting);
    }

    [Fact]
    public async Task Applied_Released_DisposesTheTimer()
    {
        var wait = _watermark.WaitAsync(1, Timeout);
        _watermark.Applied(1, pending: 0);
        await wait;
        _time.Advance(Timeout * 2);
        Assert.True(wait.IsCompletedSuccessfully);
    }
}
