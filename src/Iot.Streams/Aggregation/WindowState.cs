namespace Iot.Streams.Aggregation;

/// <summary>
/// The aggregates of one open window: the number of events, the smallest record offset among them (what the committed
/// offset must not pass while the window is open) and one <see cref="FieldAggregate"/> per field. Sessions merge.
/// </summary>
internal sealed class WindowState
{
    public WindowState(int fields)
    {
        Fields = new FieldAggregate[fields];
        for (int i = 0; i < fields; i++)
        {
            Fields[i] = new FieldAggregate();
        }
    }

    /// <summary>One aggregate per field, in the definition's order.</summary>
    public FieldAggregate[] Fields { get; }

    /// <summary>Events added (including those whose fields were all missing).</summary>
    public long Count { get; private set; }

    /// <summary>The smallest offset of the events added; <see cref="long.MaxValue"/> when none.</summary>
    public long MinOffset { get; private set; } = long.MaxValue;

    /// <summary>Adds an event at <paramref name="time"/>; a NaN value (field missing) leaves that field's aggregate alone.</summary>
    public void Add(in WindowInput input, long time)
    {
        Count++;
        MinOffset = Math.Min(MinOffset, input.Offset);
        for (int i = 0; i < Fields.Length; i++)
        {
            if (!double.IsNaN(input.Values[i]))
            {
                Fields[i].Add(input.Values[i], time);
            }
        }
    }

    /// <summary>Adds everything <paramref name="other"/> holds (two sessions bridged by an event become one).</summary>
    public void Merge(WindowState other)
    {
        Count += other.Count;
        MinOffset = Math.Min(MinOffset, other.MinOffset);
        for (int i = 0; i < Fields.Length; i++)
        {
            Fields[i].Merge(other.Fields[i]);
        }
    }
}
