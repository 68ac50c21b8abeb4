using Iot.Streams.Aggregation;

namespace Iot.Streams.Tests.Aggregation;

public sealed class SlidingWindowsTests
{
    private static readonly WindowShape Shape = new(new WindowDefinition
    {
        Name = "w",
        Kind = WindowKind.Sliding,
        Size = TimeSpan.FromMilliseconds(100),
        Fields = ["t"],
    });

    private static void Add(SlidingWindows windows, long time, long offset, double value) =>
        windows.Add(new WindowInput("k", time, offset, [value]), time);

    [Fact]
    public void Close_WatermarkPastAnEvent_EmitsItsWindowOverThePrecedingSize()
    {
        var windows = new SlidingWindows(Shape, long.MinValue);
        Add(windows, 10, 0, 1);
        Add(windows, 80, 2, 4);
        Add(windows, 50, 1, 2);     // out of order: still in the window of the event at 80

        var output = new List<AggregateResult>();
        windows.Close(80, output);  // the event at 80 waits: one at the same time may still come
        Assert.Equal([10L, 50L], output.Select(r => r.End.ToUnixTimeMilliseconds()));
        windows.Close(81, output);

        var last = output[^1];
        Assert.Equal((-20L, 80L, 3L), (last.Start.ToUnixTimeMilliseconds(), last.End.ToUnixTimeMilliseconds(), last.Count));
        Assert.Equal(7, last.Fields["t"]["sum"]);
    }

    [Fact]
    public void Close_WatermarkPastEventPlusSize_ReleasesTheEvent()
    {
        var windows = new SlidingWindows(Shape, long.MinValue);
        Add(windows, 10, 0, 1);
        Add(windows, 60, 1, 1);
        var output = new List<AggregateResult>();

        windows.Close(110, output);
        Assert.Equal((1, 1L), (windows.Count, windows.LowOffset));

        windows.Close(160, output);
        Assert.Equal((0, long.MaxValue), (windows.Count, windows.LowOffset));
        Assert.Equal(2, output.Count);
    }

    [Fact]
    public void Close_EventBeforeSuppressUntil_NotEmittedAgainButStillInLaterWindows()
    {
        var windows = new SlidingWindows(Shape, suppressUntil: 50);
        Add(windows, 10, 0, 1);
        Add(windows, 60, 1, 2);

        var output = new List<AggregateResult>();
        windows.Close(1000, output);

        var result = Assert.Single(output);
        Assert.Equal((60L, 2L), (result.End.ToUnixTimeMilliseconds(), result.Count));
    }
}
