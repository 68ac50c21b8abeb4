namespace Iot.Streams.Aggregation;

internal sealed partial class WindowEngine
{
    // Tumbling and hopping: one state per (key, window start); closed in order of window end.
    private readonly Dictionary<(string Key, long Start), WindowState> _windows = [];
    private readonly PriorityQueue<(string Key, long Start), long> _windowEnds = new();

    // Sliding: the events of each key still needed by a pending emission, and the events waiting to be emitted.
    private readonly Dictionary<string, List<SlidingEvent>> _slidingEvents = new(StringComparer.Ordinal);
    private readonly PriorityQueue<(string Key, long Time), long> _slidingPending = new();
    private readonly PriorityQueue<string, long> _slidingExpiry = new();

    // Sessions: open sessions per key; the queue holds (key, session, version) and skips stale entries.
    private readonly Dictionary<string, List<Session>> _sessions = new(StringComparer.Ordinal);
    private readonly PriorityQueue<(string Key, Session Session, int Version), long> _sessionEnds = new();

    private static long FloorDiv(long value, long divisor) => value >= 0 ? value / divisor : ((value + 1) / divisor) - 1;

    private void AddToFixedWindows(in WindowInput input, long time)
    {
        var lastStart = FloorDiv(time, _hop) * _hop;
        for (var start = lastStart; start > time - _size; start -= _hop)
        {
            if (!_windows.TryGetValue((input.Key, start), out var state))
            {
                _windows[(input.Key, start)] = state = NewState();
                _windowEnds.Enqueue((input.Key, start), start + _size);
            }

            state.Add(input, time);
        }
    }

    private void CloseFixedWindows(List<AggregateResult> output)
    {
        while (_windowEnds.TryPeek(out var window, out var end) && end <= Watermark)
        {
            _windowEnds.Dequeue();
            if (_windows.Remove(window, out var state) && end > _suppressUntil)
            {
                Emit(window.Key, window.Start, end, state, output);
            }
        }
    }

    private void AddToSliding(in WindowInput input, long time)
    {
        if (!_slidingEvents.TryGetValue(input.Key, out var events))
        {
            _slidingEvents[input.Key] = events = [];
        }

        var at = events.Count;
        while (at > 0 && events[at - 1].Time > time)
        {
            at--;
        }

        events.Insert(at, new SlidingEvent(time, input.Offset, input.Values));
        _slidingPending.Enqueue((input.Key, time), time);
        _slidingExpiry.Enqueue(input.Key, time + _size);
    }

    private void CloseSliding(List<AggregateResult> output)
    {
        // An event is emitted once the watermark is past it: every event at or before its time has arrived by then.
        while (_slidingPending.TryPeek(out var pending, out var time) && time < Watermark)
        {
            _slidingPending.Dequeue();
            if (time < _suppressUntil || !_slidingEvents.TryGetValue(pending.Key, out var events))
            {
                continue;
            }

            var state = NewState();
            foreach (var e in events)
            {
                if (e.Time > time - _size && e.Time <= time)
                {
                    state.Add(new WindowInput(pending.Key, e.Time, e.Offset, e.Values), e.Time);
                }
            }

            Emit(pending.Key, time - _size, time, state, output);
        }

        // Events no pending or future emission can include (all have times at or after the watermark) are released.
        while (_slidingExpiry.TryPeek(out var key, out var expiry) && expiry <= Watermark)
        {
            _slidingExpiry.Dequeue();
            if (_slidingEvents.TryGetValue(key, out var events))
            {
                events.RemoveAll(e => e.Time + _size <= Watermark && e.Time < Watermark);
                if (events.Count == 0)
                {
                    _slidingEvents.Remove(key);
                }
            }
        }
    }

    private void AddToSession(in WindowInput input, long time)
    {
        if (!_sessions.TryGetValue(input.Key, out var sessions))
        {
            _sessions[input.Key] = sessions = [];
        }

        Session? target = null;
        for (int i = sessions.Count - 1; i >= 0; i--)
        {
            var session = sessions[i];
            if (time <= session.Start - _gap || time >= session.Last + _gap)
            {
                continue;
            }

            if (target is null)
            {
                target = session;
            }
            else
            {
                // The event bridges two sessions: they become one.
                target.State.Merge(session.State);
                target.Start = Math.Min(target.Start, session.Start);
                target.Last = Math.Max(target.Last, session.Last);
                sessions.RemoveAt(i);
                session.Version = -1;
            }
        }

        if (target is null)
        {
            target = new Session(time, NewState());
            sessions.Add(target);
        }

        target.State.Add(input, time);
        target.Start = Math.Min(target.Start, time);
        target.Last = Math.Max(target.Last, time);
        target.Version++;
        _sessionEnds.Enqueue((input.Key, target, target.Version), target.Last + _gap);
    }

    private void CloseSessions(List<AggregateResult> output)
    {
        while (_sessionEnds.TryPeek(out var entry, out var end) && end <= Watermark)
        {
            _sessionEnds.Dequeue();
            if (entry.Session.Version != entry.Version)
            {
                continue;
            }

            var sessions = _sessions[entry.Key];
            sessions.Remove(entry.Session);
            if (sessions.Count == 0)
            {
                _sessions.Remove(entry.Key);
            }

            if (end > _suppressUntil)
            {
                Emit(entry.Key, entry.Session.Start, end, entry.Session.State, output);
            }
        }
    }

    private readonly record struct SlidingEvent(long Time, long Offset, double[] Values);

    private sealed class Session(long time, WindowState state)
    {
        public long Start { get; set; } = time;

        public long Last { get; set; } = time;

        public WindowState State { get; } = state;

        public int Version { get; set; }
    }
}
