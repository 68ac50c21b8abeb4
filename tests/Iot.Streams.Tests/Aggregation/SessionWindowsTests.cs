using Iot.Streams.Aggregation;

namespace Iot.Streams.Tests.Aggregation;

public sealed class SessionWindowsTests
{
    private static readonly WindowShape Shape = new(new WindowDefinition
    {
        Name = "w",
        Kind = WindowKind.Session,
        Gap = TimeSpan.FromMilliseconds(50),
        Fields = ["t"],
    });

    private static void Add(SessionWindows windows, long time, long offset, string key = "k") =>
        windows.Add(new WindowInput(key, time, offset, [1]), time);

    [Fact]
    public void Add_EventBridgingTwoSessions_MergesThem()
    {
        var windows = new SessionWindows(Shape, long.MinValue);
        Add(windows, 0, 0);
        Add(windows, 80, 1);
        Assert.Equal(2, windows.Count);

        Add(windows, 40, 2);

        Assert.Equal((1, 0L), (windows.Count, windows.LowOffset));
        var output = new List<AggregateResult>();
        windows.Close(1000, output);
        var session = Assert.Single(output);
        Assert.Equal((0L, 130L, 3L), (session.Start.ToUnixTimeMilliseconds(), session.End.ToUnixTimeMilliseconds(), session.Count));
    }

    [Fact]
    public void Close_SessionExtendedAfterItsFirstEnd_ClosesOnlyAtTheNewEnd()
    {
        var windows = new SessionWindows(Shape, long.MinValue);
        Add(windows, 0, 0);
        Add(windows, 30, 1);
        var output = new List<AggregateResult>();

        windows.Close(50, output);      // the end queued by the first event is stale
        Assert.Empty(output);
        windows.Close(80, output);

        Assert.Equal((0L, 80L), (output[0].Start.ToUnixTimeMilliseconds(), output[0].End.ToUnixTimeMilliseconds()));
        Assert.Equal(0, windows.Count);
    }

    [Fact]
    public void Close_EndNotAfterSuppressUntil_RemovedWithoutResult()
    {
        var windows = new SessionWindows(Shape, suppressUntil: 50);
        Add(windows, 0, 0, "a");
        Add(windows, 10, 1, "b");

        var output = new List<AggregateResult>();
        windows.Close(100, output);

        var session = Assert.Single(output);
        Assert.Equal("b", session.Key);
        Assert.Equal((0, long.MaxValue), (windows.Count, windows.LowOffset));
    }
}
