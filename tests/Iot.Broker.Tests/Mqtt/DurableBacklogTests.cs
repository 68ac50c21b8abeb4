using Iot.Broker.Mqtt;
using Iot.TestUtilities;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Broker.Tests.Mqtt;

/// <summary>The pause and resume of load leveling (<see cref="DurableBacklog"/>), driven step by step.</summary>
public sealed class DurableBacklogTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void WaitForRoom_BelowTheBound_CompletesAtOnceAndCountsNoPause()
    {
        var backlog = Create(maxWrites: 4);
        for (int i = 0; i < 3; i++)
        {
            backlog.Add(10);
        }

        Assert.False(backlog.IsSaturated);
        Assert.True(backlog.WaitForRoomAsync(static () => false).AsTask().IsCompletedSuccessfully);
        Assert.Equal(0, backlog.Pauses);
        Assert.Equal(3, backlog.Writes);
        Assert.Equal(30, backlog.Bytes);
    }

    [Fact]
    public async Task WaitForRoom_AtTheBound_WaitsUntilTheLowWaterMarkThenResumes()
    {
        var backlog = Create(maxWrites: 10, resumePercent: 50);
        for (int i = 0; i < 10; i++)
        {
            backlog.Add(1);
        }

        Assert.True(backlog.IsSaturated);
        var paused = backlog.WaitForRoomAsync(static () => false).AsTask();
        Assert.False(paused.IsCompleted);
        Assert.Equal(1, backlog.PausedConnections);

        // Hysteresis: below the bound but above the low-water mark, still paused.
        for (int i = 0; i < 4; i++)
        {
            backlog.Complete(1);
        }

        Assert.Equal(6, backlog.Writes);
        Assert.True(backlog.IsSaturated);
        Assert.False(paused.IsCompleted);

        _time.Advance(TimeSpan.FromMilliseconds(250));
        backlog.Complete(1);
        await paused.WaitAsync(Generous);
        Assert.False(backlog.IsSaturated);
        Assert.Equal(1, backlog.Pauses);
        Assert.Equal(0, backlog.PausedConnections);
        Assert.Equal(0.25, backlog.PausedSeconds, precision: 3);
        Assert.Equal(10, backlog.PeakWrites);
    }

    [Fact]
    public async Task Add_OverTheByteBound_SaturatesAndResumesWhenBytesDrain()
    {
        var backlog = Create(maxWrites: 1000, maxBytes: 4096, resumePercent: 25);
        backlog.Add(3000);
        Assert.False(backlog.IsSaturated);
        backlog.Add(2000);
        Assert.True(backlog.IsSaturated);
        var paused = backlog.WaitForRoomAsync(static () => false).AsTask();

        backlog.Complete(3000);
        Assert.False(paused.IsCompleted);
        backlog.Complete(2000);
        await paused.WaitAsync(Generous);
        Assert.Equal(0, backlog.Bytes);
    }

    [Fact]
    public async Task WaitForRoom_ConnectionClosing_EndsAtTheNextCheckWhileStillSaturated()
    {
        var backlog = Create(maxWrites: 1);
        backlog.Add(1);
        var closing = false;
        var paused = backlog.WaitForRoomAsync(() => Volatile.Read(ref closing)).AsTask();
        Assert.False(paused.IsCompleted);

        Volatile.Write(ref closing, true);
        // The pause checks the connection once a second: move the clock until it has looked.
        await Eventually.WaitUntilAsync(() =>
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            return paused.IsCompleted;
        }, Generous, "the closing connection's pause to end");
        Assert.True(backlog.IsSaturated);
        Assert.Equal(0, backlog.PausedConnections);
    }

    [Fact]
    public async Task WaitForRoom_ResumePercentZero_WaitsForTheLastWrite()
    {
        var backlog = Create(maxWrites: 3, resumePercent: 0);
        for (int i = 0; i < 3; i++)
        {
            backlog.Add(1);
        }

        var paused = backlog.WaitForRoomAsync(static () => false).AsTask();
        backlog.Complete(1);
        backlog.Complete(1);
        Assert.False(paused.IsCompleted);
        backlog.Complete(1);
        await paused.WaitAsync(Generous);
    }

    [Fact]
    public async Task AddAndComplete_RacingOnManyThreads_NeverStaySaturatedOnceDrained()
    {
        // The bound is crossed and left thousands of times from four threads at once; once every write is done the
        // backlog must be open again (a completion that raced the saturation must not leave it shut).
        var backlog = Create(maxWrites: 2, resumePercent: 50);
        var workers = Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (int i = 0; i < 20_000; i++)
            {
                backlog.Add(16);
                if (i % 3 == 0)
                {
                    Thread.Yield();
                }

                backlog.Complete(16);
            }
        })).ToArray();
        await Task.WhenAll(workers).WaitAsync(Generous);

        Assert.Equal(0, backlog.Writes);
        Assert.Equal(0, backlog.Bytes);
        Assert.False(backlog.IsSaturated);
        Assert.True(backlog.WaitForRoomAsync(static () => false).AsTask().IsCompletedSuccessfully);
        Assert.InRange(backlog.PeakWrites, 1, 4);
    }

    private DurableBacklog Create(int maxWrites, long maxBytes = 1L << 30, int resumePercent = 50) =>
        new(new MqttOptions { MaxPendingDurableWrites = maxWrites, MaxPendingDurableBytes = maxBytes, PendingDurableResumePercent = resumePercent }, _time);
}
