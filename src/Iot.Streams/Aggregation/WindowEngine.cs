namespace Iot.Streams.Aggregation;

/// <summary>
/// The event-time window maths of one partition, synchronous and single-threaded (the Rx operator serialises calls).
/// The watermark is the largest event time seen minus the tolerance; an event older than the watermark is late and is
/// dropped (counted) or, with <see cref="LatePolicy.Adjust"/>, given the watermark as its time. Every other event
/// lands in windows that are still open. A window is emitted once, when the watermark passes its end, and its state
/// is removed then, so memory holds only open windows whatever the number of keys seen.
/// </summary>
internal sealed partial class WindowEngine
{
    private readonly WindowDefinition _definition;
    private readonly string[] _fields;
    private readonly AggregateKind[] _aggregates;
    private readonly string[] _aggregateNames;
    private readonly long _size;
    private readonly long _hop;
    private readonly long _gap;
    private readonly long _tolerance;
    private readonly long _suppressUntil;
    private long _maxEventTime = long.MinValue;

    /// <param name="definition">The window.</param>
    /// <param name="suppressUntil">
    /// Watermark stored with the committed offset: windows it had closed were already emitted, so a restart that replays
    /// their events does not emit them again.
    /// </param>
    public WindowEngine(WindowDefinition definition, long suppressUntil = long.MinValue)
    {
        _definition = definition;
        _fields = [.. definition.Fields];
        _aggregates = [.. definition.EffectiveAggregates];
        _aggregateNames = [.. _aggregates.Select(a => a.ToString().ToLowerInvariant())];
        _size = (long)definition.Size.TotalMilliseconds;
        _hop = (long)definition.EffectiveHop.TotalMilliseconds;
        _gap = (long)definition.Gap.TotalMilliseconds;
        _tolerance = (long)definition.Tolerance.TotalMilliseconds;
        _suppressUntil = suppressUntil;
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
    public int OpenStates => _windows.Count + _slidingEvents.Values.Sum(l => l.Count) + _sessions.Values.Sum(l => l.Count);

    /// <summary>The smallest offset that open state depends on; null when nothing is open.</summary>
    public long? LowOffset
    {
        get
        {
            long low = long.MaxValue;
            foreach (var window in _windows.Values)
            {
                low = Math.Min(low, window.MinOffset);
            }

            foreach (var events in _slidingEvents.Values)
            {
                foreach (var e in events)
                {
                    low = Math.Min(low, e.Offset);
                }
            }

            foreach (var sessions in _sessions.Values)
            {
                foreach (var session in sessions)
                {
                    low = Math.Min(low, session.State.MinOffset);
                }
            }

            return low == long.MaxValue ? null : low;
        }
    }

    /// <summary>Processes one event; windows it closes are added to <paramref name="output"/>.</summary>
    public void OnEvent(in WindowInput input, List<AggregateResult> output)
    {
        var time = input.EventTimeMs;
        if (Watermark != long.MinValue && time < Watermark)
        {
            if (_definition.LatePolicy == LatePolicy.Drop)
            {
                DroppedLate++;
                return;
            }

            AdjustedLate++;
            time = Watermark;
        }

        switch (_definition.Kind)
        {
            case WindowKind.Tumbling:
            case WindowKind.Hopping:
                AddToFixedWindows(input, time);
                break;
            case WindowKind.Sliding:
                AddToSliding(input, time);
                break;
            case WindowKind.Session:
                AddToSession(input, time);
                break;
        }

        if (time > _maxEventTime)
        {
            _maxEventTime = time;
            AdvanceWatermark(time - _tolerance, output);
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
            AdvanceWatermark(_maxEventTime + (long)idle.TotalMilliseconds - _tolerance, output);
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
        switch (_definition.Kind)
        {
            case WindowKind.Tumbling:
            case WindowKind.Hopping:
                CloseFixedWindows(output);
                break;
            case WindowKind.Sliding:
                CloseSliding(output);
                break;
            case WindowKind.Session:
                CloseSessions(output);
                break;
        }
    }

    private void Emit(string key, long start, long end, WindowState state, List<AggregateResult> output)
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

        output.Add(new AggregateResult(_definition.Stream, _definition.Name, key, DateTimeOffset.FromUnixTimeMilliseconds(start),
            DateTimeOffset.FromUnixTimeMilliseconds(end), state.Count, fields));
    }

    private WindowState NewState() => new(_fields.Length);

    /// <summary>The aggregates of one open window.</summary>
    private sealed class WindowState
    {
        public WindowState(int fields)
        {
            Fields = new FieldAggregate[fields];
            for (int i = 0; i < fields; i++)
            {
                Fields[i] = new FieldAggregate();
            }
        }

        public FieldAggregate[] Fields { get; }

        public long Count { get; private set; }

        public long MinOffset { get; private set; } = long.MaxValue;

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
}
