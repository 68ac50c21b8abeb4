namespace Iot.Streams.Aggregation;

/// <summary>The kind of a window, as in Azure Stream Analytics.</summary>
public enum WindowKind
{
    /// <summary>Fixed, contiguous, non-overlapping windows of <see cref="WindowDefinition.Size"/>.</summary>
    Tumbling = 0,

    /// <summary>Windows of <see cref="WindowDefinition.Size"/> starting every <see cref="WindowDefinition.Hop"/> (they overlap).</summary>
    Hopping = 1,

    /// <summary>For each event, the events of its key in the <see cref="WindowDefinition.Size"/> before it (inclusive).</summary>
    Sliding = 2,

    /// <summary>Events of a key closer than <see cref="WindowDefinition.Gap"/> to each other form one window.</summary>
    Session = 3,
}

/// <summary>The aggregates computed per field.</summary>
public enum AggregateKind
{
    /// <summary>Number of values.</summary>
    Count,

    /// <summary>Sum.</summary>
    Sum,

    /// <summary>Minimum.</summary>
    Min,

    /// <summary>Maximum.</summary>
    Max,

    /// <summary>Mean.</summary>
    Avg,

    /// <summary>The value with the latest event time.</summary>
    Last,

    /// <summary>Sample standard deviation (0 for a single value), as Stream Analytics' STDEV.</summary>
    StdDev,
}

/// <summary>Where an event's time comes from.</summary>
public enum EventTimeSource
{
    /// <summary>The payload's timestamp field (ISO 8601 string or Unix milliseconds); arrival time when absent.</summary>
    Payload = 0,

    /// <summary>The time the broker received the message (the record's timestamp).</summary>
    Arrival = 1,
}

/// <summary>What happens to an event older than the watermark (later than the out-of-order tolerance).</summary>
public enum LatePolicy
{
    /// <summary>Drop it and count it.</summary>
    Drop = 0,

    /// <summary>Give it the watermark as its time, so it lands in the oldest open window.</summary>
    Adjust = 1,
}

/// <summary>One windowed aggregation over a stream, bound from <c>Iot:Streams:Windows:{n}</c>.</summary>
public sealed class WindowDefinition
{
    /// <summary>Name, used in <c>aggregates/{stream}/{name}/{key}</c> and the consumer group <c>aggregate.{name}</c>.</summary>
    /// <remarks>Required; 1-64 characters of the platform's ids (<see cref="Iot.Messaging.ResourceNames"/>).</remarks>
    public string Name { get; set; } = "";

    /// <summary>The stream to aggregate.</summary>
    /// <remarks>Default <c>telemetry</c>.</remarks>
    public string Stream { get; set; } = "telemetry";

    /// <summary>The window kind.</summary>
    /// <remarks>Default <see cref="WindowKind.Tumbling"/>.</remarks>
    public WindowKind Kind { get; set; }

    /// <summary>Window length (tumbling, hopping, sliding).</summary>
    /// <remarks>Default 1 minute; at least 1 ms.</remarks>
    public TimeSpan Size { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Hop between window starts (hopping only).</summary>
    /// <remarks>Default: <see cref="Size"/>; between 1 ms and <see cref="Size"/>, and <see cref="Size"/> must be a multiple of it.</remarks>
    public TimeSpan? Hop { get; set; }

    /// <summary>Inactivity gap that ends a session (session only).</summary>
    /// <remarks>Default 5 minutes; at least 1 ms.</remarks>
    public TimeSpan Gap { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The payload field that holds the key; null uses the record's key (the device id).</summary>
    /// <remarks>Default null.</remarks>
    public string? KeyField { get; set; }

    /// <summary>Numeric payload fields to aggregate.</summary>
    /// <remarks>Required: at least one.</remarks>
    public List<string> Fields { get; set; } = [];

    /// <summary>The aggregates to output per field.</summary>
    /// <remarks>Default: all of them.</remarks>
    public List<AggregateKind> Aggregates { get; set; } = [];

    /// <summary>Where event time comes from.</summary>
    /// <remarks>Default <see cref="EventTimeSource.Payload"/>.</remarks>
    public EventTimeSource EventTime { get; set; }

    /// <summary>The payload field with the event time.</summary>
    /// <remarks>Default <c>ts</c>.</remarks>
    public string TimestampField { get; set; } = "ts";

    /// <summary>Out-of-order tolerance: the watermark trails the largest event time seen by this much.</summary>
    /// <remarks>Default 5 seconds; 0 to 1 day.</remarks>
    public TimeSpan Tolerance { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>What happens to events older than the watermark.</summary>
    /// <remarks>Default <see cref="LatePolicy.Drop"/>.</remarks>
    public LatePolicy LatePolicy { get; set; }

    /// <summary>Another stream to append each result to (JSON), for example one captured by the InfluxDB sink; null for none.</summary>
    /// <remarks>Default null. The stream must exist (see <c>Iot:Streams:Streams</c>).</remarks>
    public string? OutputStream { get; set; }

    /// <summary>Whether an idle partition's watermark advances with processing time, so its last windows close.</summary>
    /// <remarks>Default true.</remarks>
    public bool IdleAdvance { get; set; } = true;

    /// <summary>The hop in effect.</summary>
    internal TimeSpan EffectiveHop => Hop ?? Size;

    /// <summary>The aggregates in effect.</summary>
    internal IReadOnlyList<AggregateKind> EffectiveAggregates => Aggregates.Count > 0 ? Aggregates : Enum.GetValues<AggregateKind>();

    /// <summary>The consumer group the aggregation reads with.</summary>
    internal string GroupName => "aggregate." + Name;

    /// <summary>Problems, each starting with the property name.</summary>
    internal IEnumerable<string> Validate()
    {
        if (!Log.StreamDefinition.IsValidName(Name) || Name.Length > 50)
        {
            yield return $"Name '{Name}' must be 1-50 of letters, digits, '-', '_', '.'.";
        }

        if (!Log.StreamDefinition.IsValidName(Stream))
        {
            yield return $"Stream '{Stream}' is not a valid stream name.";
        }

        if (Fields.Count == 0 || Fields.Any(string.IsNullOrWhiteSpace))
        {
            yield return "Fields must name at least one numeric payload field.";
        }

        if (Size < TimeSpan.FromMilliseconds(1))
        {
            yield return "Size must be at least 1 ms.";
        }

        if (Kind == WindowKind.Hopping && (EffectiveHop < TimeSpan.FromMilliseconds(1) || EffectiveHop > Size || Size.Ticks % EffectiveHop.Ticks != 0))
        {
            yield return "Hop must be between 1 ms and Size, and Size a multiple of it.";
        }

        if (Kind == WindowKind.Session && Gap < TimeSpan.FromMilliseconds(1))
        {
            yield return "Gap must be at least 1 ms.";
        }

        if (Tolerance < TimeSpan.Zero || Tolerance > TimeSpan.FromDays(1))
        {
            yield return "Tolerance must be between 0 and 1 day.";
        }
    }
}
