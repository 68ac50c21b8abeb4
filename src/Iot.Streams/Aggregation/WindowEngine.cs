namespace Iot.Streams.Aggregation;

/// <summary>
/// The event-time window maths of one partition, synchronous and single-threaded (the Rx operator serialises calls).
/// The watermark is the largest event time seen minus the tolerance; an event older than the watermark is late and is
/// dropped (counted) or, with <see cref="LatePolicy.Adjust"/>, given the watermark as its time. Every other event
/// lands in windows that are still open. A window is emitted once, when the watermark passes its end, and its state
/// is removed then, so memory holds only open windows whatever the number of keys seen. The engine owns the watermark
/// and the late counters; the open windows are an <see cref="IOpenWindows"/> of the definition's kind.
/// </summary>
internal sealed class WindowEngine
{
    private readonly WindowShape _shape;
    private readonly IOpenWindows _open;
    private long _maxEventTime = long.MinValue;

    /// <param name="definition">The window.</param>
    /// <param name="suppressUntil">
    /// Watermark stored with the committed offset: windows it had closed were already emitted, so a restart that replays
    /// their events does not emit them again.
    /// </param>
    public WindowEngine(WindowDefinition definition, long suppressUntil = long.MinValue)
    {
        _shape = new WindowShape(definition);
        _open = _shape.Kind switch
        {
            WindowKind.Tumbling or WindowKind.Hopping => new FixedWindows(_shape, suppressUntil),
            WindowKind.Sliding => new SlidingWindows(_shape, suppressUntil),
            WindowKind.Session => new SessionWindows(_shape, suppressUntil),
            _ => throw new ArgumentOutOfRangeException(nameof(definition), definition.Kind, $"Window '{definition.Name}': unknown Kind."),
        };
    }

    /// <summary>Serialises the operator's calls (events, idle ticks) with the consumer's reads of the state.</summary>
    public Lock Gate { get; } = new();

    /// <summary>The current watermark (Unix ms), <see cref="long.MinValue"/> before the first event.</summary>
    public long Watermark { get; private set; } = long.MinValue;

    /// <summary>Events dropped as too late.</summary>
    public long DroppedLate { get; private set; }

    /// <summary>Late events whose time was moved to the watermark.</summary>
    public long AdjustedLate { get; private set; }

    /// <summary>Windows currently open (or, for sliding windows, events held).</summary>
    public int OpenStates => _open.Count;

    /// <summary>The smallest offset that open state depends on; null when nothing is open.</summary>
    public long? LowOffset
    {
        get
        {
            var low = _open.LowOffset;
            return low == long.MaxValue ? null : low;
        }
    }

    /// <summary>Processes one event; windows it closes are added to <paramref name="output"/>.</summary>
    public void OnEvent(in WindowInput input, List<AggregateResult> output)
    {
        var time = input.EventTimeMs;
        if (Watermark != long.MinValue && time < Watermark)
        {
            if (_shape.LatePolicy == LatePolicy.Drop)
            {
                DroppedLate++;
                return;
            }

            AdjustedLate++;
            time = Watermark;
        }

        _open.Add(input, time);
        if (time > _maxEventTime)
        {
            _maxEventTime = time;
            AdvanceWatermark(time - _shape.Tolerance, output);
        }
    }

    /// <summary>
    /// Advances event time while the partition is idle: the watermark moves as if the largest event time had grown by
    /// <paramref name="idle"/>, so the last windows of keys that went quiet close.
    /// </summary>
    public void AdvanceIdle(TimeSpan idle, List<AggregateResult> output)
    {
        if (_maxEventTime != long.MinValue && idle > TimeSpan.Zero)
        {
            AdvanceWatermark(_maxEventTime + (long)idle.TotalMilliseconds - _shape.Tolerance, output);
        }
    }

    /// <summary>Moves the watermark forward (never back) and emits the windows it closes.</summary>
    public void AdvanceWatermark(long watermark, List<AggregateResult> output)
    {
        if (watermark <= Watermark)
        {
            return;
        }

        Watermark = watermark;
        _open.Close(watermark, output);
    }
}
