using Iot.Streams.Aggregation;

namespace Iot.Streams.Tests.Aggregation;

public sealed class WindowStateTests
{
    [Fact]
    public void Add_MissingValue_CountsTheEventButLeavesThatFieldAlone()
    {
        var state = new WindowState(2);
        state.Add(new WindowInput("k", 10, 5, [1, double.NaN]), 10);
        state.Add(new WindowInput("k", 20, 3, [2, 7]), 20);

        Assert.Equal(2, state.Count);
        Assert.Equal(3, state.MinOffset);
        Assert.Equal((2L, 1L), (state.Fields[0].Count, state.Fields[1].Count));
        Assert.Equal(7, state.Fields[1].Sum);
    }

    [Fact]
    public void Merge_TwoStates_AddsCountsAndKeepsTheSmallestOffset()
    {
        var a = new WindowState(1);
        a.Add(new WindowInput("k", 10, 9, [1]), 10);
        var b = new WindowState(1);
        b.Add(new WindowInput("k", 20, 4, [3]), 20);
        b.Add(new WindowInput("k", 30, 6, [5]), 30);

        a.Merge(b);

        Assert.Equal((3L, 4L), (a.Count, a.MinOffset));
        Assert.Equal(9, a.Fields[0].Sum);
        Assert.Equal(5, a.Fields[0].Last);
    }

    [Fact]
    public void MinOffset_Empty_IsMaxValue() => Assert.Equal(long.MaxValue, new WindowState(1).MinOffset);
}
