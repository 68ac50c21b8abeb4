using Iot.Streams.Aggregation;
using static Iot.Streams.Tests.Aggregation.WindowTestKit;

namespace Iot.Streams.Tests.Aggregation;

public sealed class WindowEngineTests
{
    [Fact]
    public void Tumbling_WatermarkPassesEnd_EmitsEachWindowOnceWithAllAggregates()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Tumbling, sizeSeconds: 10));
        kit.Event(1, 10);
        kit.Event(4, 20);
        kit.Event(9.999, 30);
        Assert.Empty(kit.Results);

        kit.Event(10, 5);
        var first = Assert.Single(kit.Results);
        Assert.Equal((0, 10), Span(first));
        Assert.Equal(3, first.Count);
        Assert.Equal(3, Agg(first, "count"));
        Assert.Equal(60, Agg(first, "sum"));
        Assert.Equal(10, Agg(first, "min"));
        Assert.Equal(30, Agg(first, "max"));
        Assert.Equal(20, Agg(first, "avg"));
        Assert.Equal(30, Agg(first, "last"));
        Assert.Equal(10, Agg(first, "stddev"), 9);

        kit.Event(25, 1);
        Assert.Equal(2, kit.Results.Count);
        Assert.Equal((10, 20), Span(kit.Results[1]));
        Assert.Equal(1, kit.Engine.OpenStates);
    }

    [Fact]
    public void Tumbling_PerKey_SeparateWindows()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Tumbling, sizeSeconds: 10));
        kit.Event(1, 10, "a");
        kit.Event(2, 100, "b");
        kit.Event(3, 20, "a");
        kit.Watermark(10);
        Assert.Equal(2, kit.Results.Count);
        Assert.Equal(15, Agg(kit.Results.Single(r => r.Key == "a"), "avg"));
        Assert.Equal(100, Agg(kit.Results.Single(r => r.Key == "b"), "avg"));
    }

    [Fact]
    public void Tumbling_OutOfOrderWithinTolerance_UpdatesTheOpenWindow()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Tumbling, sizeSeconds: 10, toleranceSeconds: 5));
        kit.Event(8, 1);
        kit.Event(12, 2);       // watermark 7: [0,10) stays open
        kit.Event(9, 3);        // out of order, within tolerance: joins [0,10)
        Assert.Empty(kit.Results);
        kit.Event(15, 4);       // watermark 10: [0,10) closes
        var window = Assert.Single(kit.Results);
        Assert.Equal(2, window.Count);
        Assert.Equal(4, Agg(window, "sum"));
        Assert.Equal(3, Agg(window, "last"));   // by event time: the value at 9 s, although it arrived after 12 s
        Assert.Equal(0, kit.Engine.DroppedLate);
    }

    [Fact]
    public void Tumbling_LaterThanTolerance_DroppedAndCounted()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Tumbling, sizeSeconds: 10, toleranceSeconds: 2));
        kit.Event(5, 1);
        kit.Event(15, 1);      // watermark 13: [0,10) emitted
        kit.Event(12, 100);    // older than the watermark: dropped
        kit.Event(3, 100);     // its window is closed: dropped
        Assert.Equal(2, kit.Engine.DroppedLate);
        kit.Watermark(20);
        Assert.Equal([1.0, 1.0], kit.Results.Select(r => Agg(r, "sum")));
    }

    [Fact]
    public void Tumbling_LatePolicyAdjust_MovesTheEventToTheWatermark()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Tumbling, sizeSeconds: 10, toleranceSeconds: 2, late: LatePolicy.Adjust));
        kit.Event(5, 1);
        kit.Event(15, 1);      // watermark 13
        kit.Event(3, 100);     // adjusted to 13: lands in [10,20)
        Assert.Equal(1, kit.Engine.AdjustedLate);
        kit.Watermark(20);
        Assert.Equal([1.0, 101.0], kit.Results.Select(r => Agg(r, "sum")));
    }

    [Fact]
    public void Hopping_EventBelongsToSizeOverHopWindows()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Hopping, sizeSeconds: 10, hopSeconds: 5));
        kit.Event(7, 1);
        kit.Event(12, 2);
        kit.Watermark(30);
        Assert.Equal([(0.0, 10.0), (5.0, 15.0), (10.0, 20.0)], kit.Results.Select(Span));
        Assert.Equal([1.0, 3.0, 2.0], kit.Results.Select(r => Agg(r, "sum")));
    }

    [Fact]
    public void Sliding_EmitsPerEventOverThePrecedingSize()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Sliding, sizeSeconds: 10));
        kit.Event(1, 1);
        kit.Event(5, 2);
        kit.Event(12, 4);
        kit.Watermark(100);
        Assert.Equal([(-9.0, 1.0), (-5.0, 5.0), (2.0, 12.0)], kit.Results.Select(Span));
        Assert.Equal([1.0, 3.0, 6.0], kit.Results.Select(r => Agg(r, "sum")));
        Assert.Equal(0, kit.Engine.OpenStates);
    }

    [Fact]
    public void Session_GapSplitsAndLateEventBridgesSessions()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Session, gapSeconds: 5, toleranceSeconds: 10));
        kit.Event(0, 1);
        kit.Event(3, 1);
        kit.Event(12, 1);      // gap of 9 s: a second session (watermark 2)
        kit.Event(7.5, 1);     // out of order: within 5 s of both, merges them
        kit.Event(40, 1);      // watermark 30: the merged session [0, 17) closes
        var session = Assert.Single(kit.Results);
        Assert.Equal((0, 17), Span(session));
        Assert.Equal(4, session.Count);
        kit.Watermark(46);
        Assert.Equal((40, 45), Span(kit.Results[1]));
    }

    [Fact]
    public void IdleTick_NoMoreEvents_WatermarkAdvancesWithVirtualTimeAndClosesWindows()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Tumbling, sizeSeconds: 10, toleranceSeconds: 2), idleTick: TimeSpan.FromSeconds(1));
        kit.Event(3, 1);
        kit.Scheduler.AdvanceBy(TimeSpan.FromSeconds(8));
        Assert.Empty(kit.Results);                       // watermark 3 + 8 - 2 = 9
        kit.Scheduler.AdvanceBy(TimeSpan.FromSeconds(1));
        Assert.Equal((0, 10), Span(Assert.Single(kit.Results)));
    }

    [Fact]
    public void SuppressUntil_Replay_DoesNotEmitWindowsAlreadyClosed()
    {
        var definition = Define(WindowKind.Tumbling, sizeSeconds: 10);
        using var kit = new WindowTestKit(definition, suppressUntil: (T0 + TimeSpan.FromSeconds(10)).ToUnixTimeMilliseconds());
        kit.Event(5, 1);
        kit.Event(15, 2);
        kit.Watermark(30);
        Assert.Equal((10, 20), Span(Assert.Single(kit.Results)));
    }

    [Fact]
    public void LowOffset_TracksTheOldestEventOfOpenWindows()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Tumbling, sizeSeconds: 10));
        Assert.Null(kit.Engine.LowOffset);
        kit.Event(1, 1);   // offset 0
        kit.Event(11, 1);  // offset 1; closes [0,10)
        Assert.Equal(1, kit.Engine.LowOffset);
        kit.Watermark(20);
        Assert.Null(kit.Engine.LowOffset);
    }

    [Fact]
    public void ManyKeys_ComeAndGo_StateIsReleased()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Session, gapSeconds: 1));
        for (int i = 0; i < 10_000; i++)
        {
            kit.Event(i, 1, $"k{i}");
        }

        kit.Watermark(20_000);
        Assert.Equal(10_000, kit.Results.Count);
        Assert.Equal(0, kit.Engine.OpenStates);
    }

    [Fact]
    public void Hopping_OutOfOrderWithinTolerance_UpdatesEveryOpenWindowItBelongsTo()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Hopping, sizeSeconds: 10, hopSeconds: 5, toleranceSeconds: 4));
        kit.Event(11, 1);      // watermark 7: [0,10) and [5,15) open
        kit.Event(8, 10);      // within tolerance: joins [0,10) and [5,15)
        kit.Event(2, 100);     // older than the watermark: dropped
        kit.Watermark(30);
        Assert.Equal(1, kit.Engine.DroppedLate);
        Assert.Equal([(0.0, 10.0), (5.0, 15.0), (10.0, 20.0)], kit.Results.Select(Span));
        Assert.Equal([10.0, 11.0, 1.0], kit.Results.Select(r => Agg(r, "sum")));
    }

    [Fact]
    public void Sliding_OutOfOrderWithinTolerance_IncludedInLaterEmissions()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Sliding, sizeSeconds: 10, toleranceSeconds: 5));
        kit.Event(10, 1);
        kit.Event(12, 2);
        kit.Event(7, 4);       // out of order (watermark 7): it precedes both and is in both windows
        kit.Watermark(100);
        Assert.Equal([7.0, 10.0, 12.0], kit.Results.Select(r => Span(r).End));
        Assert.Equal([4.0, 5.0, 7.0], kit.Results.Select(r => Agg(r, "sum")));
    }

    [Fact]
    public void Session_LaterThanTolerance_DroppedAndSessionUnchanged()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Session, gapSeconds: 5, toleranceSeconds: 1));
        kit.Event(0, 1);
        kit.Event(2, 1);
        kit.Event(20, 1);      // watermark 19: the session [0, 7) closed
        kit.Event(4, 1);       // late: dropped, the closed session is not reopened
        Assert.Equal(1, kit.Engine.DroppedLate);
        var session = Assert.Single(kit.Results);
        Assert.Equal((0, 7), Span(session));
        Assert.Equal(2, session.Count);
    }

    [Fact]
    public void Last_OutOfOrder_IsTheValueWithTheLatestEventTime()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Tumbling, sizeSeconds: 10, toleranceSeconds: 5));
        kit.Event(6, 60);
        kit.Event(3, 30);      // arrives last but is older
        kit.Watermark(10);
        Assert.Equal(60, Agg(Assert.Single(kit.Results), "last"));
    }

    [Fact]
    public void StdDev_MatchesTheSampleFormula()
    {
        using var kit = new WindowTestKit(Define(WindowKind.Tumbling, sizeSeconds: 10));
        foreach (var (t, v) in new[] { (1, 2.0), (2, 4.0), (3, 4.0), (4, 4.0), (5, 5.0), (6, 5.0), (7, 7.0), (8, 9.0) })
        {
            kit.Event(t, v);
        }

        kit.Watermark(10);
        Assert.Equal(Math.Sqrt(32.0 / 7), Agg(Assert.Single(kit.Results), "stddev"), 12);
    }
}
