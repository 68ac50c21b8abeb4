namespace Iot.Streams.Aggregation;

/// <summary>
/// The session windows of one partition: events of a key closer than the gap to each other form one session, an event
/// that bridges two sessions merges them, and a session closes once the watermark reaches its last event plus the gap.
/// The queue of session ends holds (key, session, version) and skips entries a later event or a merge made stale.
/// </summary>
internal sealed class SessionWindows : IOpenWindows
{
    private readonly WindowShape _shape;
    private readonly long _suppressUntil;
    private readonly Dictionary<string, List<Session>> _sessions = new(StringComparer.Ordinal);
    private readonly PriorityQueue<(string Key, Session Session, int Version), long> _ends = new();

    /// <param name="shape">The window.</param>
    /// <param name="suppressUntil">Sessions ending at or before this watermark were emitted before a restart: not again.</param>
    public SessionWindows(WindowShape shape, long suppressUntil)
    {
        _shape = shape;
        _suppressUntil = suppressUntil;
    }

    /// <inheritdoc/>
    public int Count => _sessions.Values.Sum(l => l.Count);

    /// <inheritdoc/>
    public long LowOffset
    {
        get
        {
            long low = long.MaxValue;
            foreach (var sessions in _sessions.Values)
            {
                foreach (var session in sessions)
                {
                    low = Math.Min(low, session.State.MinOffset);
                }
            }

            return low;
        }
    }

    /// <inheritdoc/>
    public void Add(in WindowInput input, long time)
    {
        if (!_sessions.TryGetValue(input.Key, out var sessions))
        {
            _sessions[input.Key] = sessions = [];
        }

        var gap = _shape.Gap;
        Session? target = null;
        for (int i = sessions.Count - 1; i >= 0; i--)
        {
            var session = sessions[i];
            if (time <= session.Start - gap || time >= session.Last + gap)
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
            target = new Session(time, _shape.NewState());
            sessions.Add(target);
        }

        target.State.Add(input, time);
        target.Start = Math.Min(target.Start, time);
        target.Last = Math.Max(target.Last, time);
        target.Version++;
        _ends.Enqueue((input.Key, target, target.Version), target.Last + gap);
    }

    /// <inheritdoc/>
    public void Close(long watermark, List<AggregateResult> output)
    {
        while (_ends.TryPeek(out var entry, out var end) && end <= watermark)
        {
            _ends.Dequeue();
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
                output.Add(_shape.ToResult(entry.Key, entry.Session.Start, end, entry.Session.State));
            }
        }
    }

    /// <summary>One open session; <see cref="Version"/> grows with each event and is -1 once merged into another.</summary>
    private sealed class Session(long time, WindowState state)
    {
        public long Start { get; set; } = time;

        public long Last { get; set; } = time;

        public WindowState State { get; } = state;

        public int Version { get; set; }
    }
}
