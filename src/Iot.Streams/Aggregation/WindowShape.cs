namespace Iot.Streams.Aggregation;

/// <summary>
/// The shape of one <see cref="WindowDefinition"/> in the units the window maths uses (Unix milliseconds), read once
/// when a <see cref="WindowEngine"/> is made: kind, late policy, lengths, and the fields and aggregates of its results.
/// Immutable, so the engine and its open windows share one; it also makes a window's empty state and turns a closed
/// window's state into its <see cref="AggregateResult"/>.
/// </summary>
internal sealed class WindowShape
{
    private readonly string[] _fields;
    private readonly AggregateKind[] _aggregates;
    private readonly string[] _aggregateNames;

    public WindowShape(WindowDefinition definition)
    {
        Stream = definition.Stream;
        Name = definition.Name;
        Kind = definition.Kind;
        LatePolicy = definition.LatePolicy;
        Size = (long)definition.Size.TotalMilliseconds;
        Hop = (long)definition.EffectiveHop.TotalMilliseconds;
        Gap = (long)definition.Gap.TotalMilliseconds;
        Tolerance = (long)definition.Tolerance.TotalMilliseconds;
        _fields = [.. definition.Fields];
        _aggregates = [.. definition.EffectiveAggregates];
        _aggregateNames = [.. _aggregates.Select(a => a.ToString().ToLowerInvariant())];
    }

    /// <summary>The aggregated stream.</summary>
    public string Stream { get; }

    /// <summary>The window definition's name.</summary>
    public string Name { get; }

    /// <summary>The window kind.</summary>
    public WindowKind Kind { get; }

    /// <summary>What happens to events older than the watermark.</summary>
    public LatePolicy LatePolicy { get; }

    /// <summary>Window length, ms.</summary>
    public long Size { get; }

    /// <summary>Hop between window starts in effect, ms (the size when not hopping).</summary>
    public long Hop { get; }

    /// <summary>Inactivity gap that ends a session, ms.</summary>
    public long Gap { get; }

    /// <summary>Out-of-order tolerance: how far the watermark trails the largest event time, ms.</summary>
    public long Tolerance { get; }

    /// <summary>A new, empty window state with one aggregate per field.</summary>
    public WindowState NewState() => new(_fields.Length);

    /// <summary>
    /// The result of the window of <paramref name="key"/> from <paramref name="start"/> to <paramref name="end"/> (Unix
    /// ms): per field with values, the configured aggregates by their lower-case name.
    /// </summary>
    public AggregateResult ToResult(string key, long start, long end, WindowState state)
    {
        var fields = new Dictionary<string, IReadOnlyDictionary<string, double>>(_fields.Length, StringComparer.Ordinal);
        for (int i = 0; i < _fields.Length; i++)
        {
            var aggregate = state.Fields[i];
            if (aggregate.Count == 0)
            {
                continue;
            }

            var values = new Dictionary<string, double>(_aggregates.Length, StringComparer.Ordinal);
            for (int a = 0; a < _aggregates.Length; a++)
            {
                values[_aggregateNames[a]] = aggregate.Get(_aggregates[a]);
            }

            fields[_fields[i]] = values;
        }

        return new AggregateResult(Stream, Name, key, DateTimeOffset.FromUnixTimeMilliseconds(start),
            DateTimeOffset.FromUnixTimeMilliseconds(end), state.Count, fields);
    }
}
