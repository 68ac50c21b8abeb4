namespace Iot.Streams.Aggregation;

/// <summary>Running statistics of one field in one window (Welford's algorithm; mergeable for sessions).</summary>
internal sealed class FieldAggregate
{
    public long Count { get; private set; }

    public double Sum { get; private set; }

    public double Min { get; private set; } = double.PositiveInfinity;

    public double Max { get; private set; } = double.NegativeInfinity;

    public double Mean { get; private set; }

    public double Last { get; private set; }

    private double _m2;
    private long _lastTime = long.MinValue;

    public double StdDev => Count > 1 ? Math.Sqrt(_m2 / (Count - 1)) : 0;

    public void Add(double value, long eventTimeMs)
    {
        Count++;
        Sum += value;
        Min = Math.Min(Min, value);
        Max = Math.Max(Max, value);
        var delta = value - Mean;
        Mean += delta / Count;
        _m2 += delta * (value - Mean);
        if (eventTimeMs >= _lastTime)
        {
            _lastTime = eventTimeMs;
            Last = value;
        }
    }

    public void Merge(FieldAggregate other)
    {
        if (other.Count == 0)
        {
            return;
        }

        if (Count == 0)
        {
            (Count, Sum, Min, Max, Mean, _m2, Last, _lastTime) =
                (other.Count, other.Sum, other.Min, other.Max, other.Mean, other._m2, other.Last, other._lastTime);
            return;
        }

        var count = Count + other.Count;
        var delta = other.Mean - Mean;
        _m2 += other._m2 + delta * delta * Count * other.Count / count;
        Mean += delta * other.Count / count;
        Count = count;
        Sum += other.Sum;
        Min = Math.Min(Min, other.Min);
        Max = Math.Max(Max, other.Max);
        if (other._lastTime >= _lastTime)
        {
            _lastTime = other._lastTime;
            Last = other.Last;
        }
    }

    public double Get(AggregateKind kind) => kind switch
    {
        AggregateKind.Count => Count,
        AggregateKind.Sum => Sum,
        AggregateKind.Min => Min,
        AggregateKind.Max => Max,
        AggregateKind.Avg => Mean,
        AggregateKind.Last => Last,
        AggregateKind.StdDev => StdDev,
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
