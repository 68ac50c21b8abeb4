namespace Iot.Streams.Aggregation;

/// <summary>
/// The sliding windows of one partition: for each event, one window of the events of its key in the Size before it
/// (inclusive). It holds each key's events in time order while a pending or future emission may include them; an
/// event's window is emitted once the watermark is past the event (every event at or before its time has arrived by
/// then), and events older than every window still to come are released.
/// </summary>
internal sealed class SlidingWindows : IOpenWindows
{
    private readonly WindowShape _shape;
    private readonly long _suppressUntil;
    private readonly Dictionary<string, List<SlidingEvent>> _events = new(StringComparer.Ordinal);
    private readonly PriorityQueue<(string Key, long Time), long> _pending = new();
    private readonly PriorityQueue<string, long> _expiry = new();

    /// <param name="shape">The window.</param>
    /// <param name="suppressUntil">Events before this watermark had their window emitted before a restart: not again.</param>
    public SlidingWindows(WindowShape shape, long suppressUntil)
    {
        _shape = shape;
        _suppressUntil = suppressUntil;
    }

    /// <inheritdoc/>
    public int Count => _events.Values.Sum(l => l.Count);

    /// <inheritdoc/>
    public long LowOffset
    {
        get
        {
            long low = long.MaxValue;
            foreach (var events in _events.Values)
            {
                foreach (var e in events)
                {
                    low = Math.Min(low, e.Offset);
                }
            }

            return low;
        }
    }

    /// <inheritdoc/>
    public void Add(in WindowInput input, long time)
    {
        if (!_events.TryGetValue(input.Key, out var events))
        {
            _events[input.Key] = events = [];
        }

        var at = events.Count;
        while (at > 0 && events[at - 1].Time > time)
        {
            at--;
        }

        events.Insert(at, new SlidingEvent(time, input.Offset, input.Values));
        _pending.Enqueue((input.Key, time), time);
        _expiry.Enqueue(input.Key, time + _shape.Size);
    }

    /// <inheritdoc/>
    public void Close(long watermark, List<AggregateResult> output)
    {
        var size = _shape.Size;
        while (_pending.TryPeek(out var pending, out var time) && time < watermark)
        {
            _pending.Dequeue();
            if (time < _suppressUntil || !_events.TryGetValue(pending.Key, out var events))
            {
                continue;
            }

            var state = _shape.NewState();
            foreach (var e in events)
            {
                if (e.Time > time - size && e.Time <= time)
                {
                    state.Add(new WindowInput(pending.Key, e.Time, e.Offset, e.Values), e.Time);
                }
            }

            output.Add(_shape.ToResult(pending.Key, time - size, time, state));
        }

        // Events no pending or future emission can include (all have times at or after the watermark) are released.
        while (_expiry.TryPeek(out var key, out var expiry) && expiry <= watermark)
        {
            _expiry.Dequeue();
            if (_events.TryGetValue(key, out var events))
            {
                Release(events, watermark, size);
                if (events.Count == 0)
                {
                    _events.Remove(key);
                }
            }
        }
    }

    /// <summary>Removes, keeping the order, the events whose windows have all been emitted (no delegate per call).</summary>
    private static void Release(List<SlidingEvent> events, long watermark, long size)
    {
        var kept = 0;
        for (int i = 0; i < events.Count; i++)
        {
            var e = events[i];
            if (e.Time + size > watermark || e.Time >= watermark)
            {
                events[kept++] = e;
            }
        }

        events.RemoveRange(kept, events.Count - kept);
    }

    private readonly record struct SlidingEvent(long Time, long Offset, double[] Values);
}
