using Iot.Streams.Aggregation;

namespace Iot.Streams.Tests.Aggregation;

public sealed class WindowShapeTests
{
    [Fact]
    public void Constructor_Definition_LengthsInMillisecondsAndHopDefaultsToSize()
    {
        var shape = new WindowShape(new WindowDefinition
        {
            Name = "w",
            Stream = "s",
            Kind = WindowKind.Tumbling,
            Size = TimeSpan.FromSeconds(10),
            Gap = TimeSpan.FromSeconds(3),
            Tolerance = TimeSpan.FromMilliseconds(250),
            LatePolicy = LatePolicy.Adjust,
            Fields = ["t"],
        });

        Assert.Equal(("s", "w", WindowKind.Tumbling, LatePolicy.Adjust), (shape.Stream, shape.Name, shape.Kind, shape.LatePolicy));
        Assert.Equal((10_000L, 10_000L, 3_000L, 250L), (shape.Size, shape.Hop, shape.Gap, shape.Tolerance));
    }

    [Fact]
    public void ToResult_ConfiguredAggregates_LowerCaseNamesAndFieldsWithoutValuesLeftOut()
    {
        var shape = new WindowShape(new WindowDefinition
        {
            Name = "w",
            Fields = ["t", "h"],
            Aggregates = [AggregateKind.Sum, AggregateKind.StdDev],
        });
        var state = shape.NewState();
        state.Add(new WindowInput("k", 1, 7, [2, double.NaN]), 1);
        state.Add(new WindowInput("k", 2, 8, [4, double.NaN]), 2);

        var result = shape.ToResult("k", 0, 1000, state);

        Assert.Equal(("telemetry", "w", "k", 2L), (result.Stream, result.Window, result.Key, result.Count));
        Assert.Equal((DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch.AddSeconds(1)), (result.Start, result.End));
        var field = Assert.Single(result.Fields);
        Assert.Equal("t", field.Key);
        Assert.Equal(["sum", "stddev"], field.Value.Keys);
        Assert.Equal(6, field.Value["sum"]);
    }

    [Fact]
    public void ToResult_NoAggregatesConfigured_AllOfThem()
    {
        var shape = new WindowShape(new WindowDefinition { Name = "w", Fields = ["t"] });
        var state = shape.NewState();
        state.Add(new WindowInput("k", 1, 0, [5]), 1);

        var values = shape.ToResult("k", 0, 10, state).Fields["t"];

        Assert.Equal(["count", "sum", "min", "max", "avg", "last", "stddev"], values.Keys);
    }
}
