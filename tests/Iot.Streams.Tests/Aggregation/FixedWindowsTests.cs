using Iot.Streams.Aggregation;

namespace Iot.Streams.Tests.Aggregation;

public sealed class FixedWindowsTests
{
    private static WindowShape Shape(int sizeMs, int? hopMs = null) => new(new WindowDefinition
    {
        Name = "w",
        Kind = hopMs is null ? WindowKind.Tumbling : WindowKind.Hopping,
        Size = TimeSpan.FromMilliseconds(sizeMs),
        Hop = hopMs is { } hop ? TimeSpan.FromMilliseconds(hop) : null,
        Fields = ["t"],
    });

    private static WindowInput Input(string key, long time, long offset) => new(key, time, offset, [1]);

    [Fact]
    public void Add_Hopping_EventOpensSizeOverHopWindows()
    {
        var windows = new FixedWindows(Shape(100, hopMs: 25), long.MinValue);
        windows.Add(Input("k", 130, 0), 130);

        Assert.Equal(4, windows.Count);
        var output = new List<AggregateResult>();
        windows.Close(1000, output);
        Assert.Equal([50L, 75L, 100L, 125L], output.Select(r => r.Start.ToUnixTimeMilliseconds()));
        Assert.Equal(0, windows.Count);
    }

    [Fact]
    public void Add_NegativeTime_WindowStartsAtTheFloor()
    {
        var windows = new FixedWindows(Shape(100), long.MinValue);
        windows.Add(Input("k", -1, 0), -1);

        var output = new List<AggregateResult>();
        windows.Close(0, output);
        Assert.Equal((-100L, 0L), (output[0].Start.ToUnixTimeMilliseconds(), output[0].End.ToUnixTimeMilliseconds()));
    }

    [Fact]
    public void Close_WatermarkAtEnd_EmitsInOrderOfEndAndKeepsLaterWindows()
    {
        var windows = new FixedWindows(Shape(100), long.MinValue);
        windows.Add(Input("b", 150, 2), 150);
        windows.Add(Input("a", 10, 0), 10);
        windows.Add(Input("a", 20, 1), 20);

        var output = new List<AggregateResult>();
        windows.Close(99, output);
        Assert.Empty(output);
        windows.Close(100, output);

        var closed = Assert.Single(output);
        Assert.Equal(("a", 2L), (closed.Key, closed.Count));
        Assert.Equal((1, 2L), (windows.Count, windows.LowOffset));
    }

    [Fact]
    public void Close_EndNotAfterSuppressUntil_DroppedWithoutResult()
    {
        var windows = new FixedWindows(Shape(100), suppressUntil: 200);
        windows.Add(Input("k", 150, 0), 150);
        windows.Add(Input("k", 250, 1), 250);

        var output = new List<AggregateResult>();
        windows.Close(300, output);

        Assert.Equal([300L], output.Select(r => r.End.ToUnixTimeMilliseconds()));
        Assert.Equal((0, long.MaxValue), (windows.Count, windows.LowOffset));
    }
}
