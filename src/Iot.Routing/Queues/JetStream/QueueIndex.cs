using NATS.Client.KeyValueStore;

namespace Iot.Routing.Queues.JetStream;

/// <summary>One message as this node knows it: its key, the revision it was read at, its sequence number, header and body.</summary>
internal sealed record IndexedMessage(string Key, ulong Revision, long Seq, MessageHeader Header, byte[] Body)
{
    /// <summary>Whether a receive may take it at <paramref name="now"/> (visible, not locked).</summary>
    public bool IsAvailable(long now) => Header.VisibleAt <= now && !Header.IsLocked(now);
}

/// <summary>
/// This node's picture of one queue's bucket, fed by its watch and by this node's own writes (applied as soon as their
/// revision is known). Receives pick candidates here and claim them in the bucket by compare-and-set, so a stale
/// picture costs a failed write, never a second lock. Owns its maps; every member takes <see cref="_gate"/>, never
/// across I/O.
/// </summary>
internal sealed class QueueIndex
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, IndexedMessage> _messages = new(StringComparer.Ordinal);
    private readonly Dictionary<long, string> _bySeq = [];
    private readonly Dictionary<string, (ulong Revision, SessionRecord Record)> _sessions = new(StringComparer.Ordinal);

    // Keys this node deleted, with the revision deleted: older puts the watch still brings are not revived. Dropped
    // when the watch brings the delete marker.
    private readonly Dictionary<string, ulong> _deleted = new(StringComparer.Ordinal);

    // Keys a receive of this node is claiming, so that two local receivers do not race for one message.
    private readonly HashSet<string> _claiming = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _arrival = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public QueueIndex(QueueProperties properties, INatsKVStore bucket)
    {
        Properties = properties;
        Bucket = bucket;
    }

    /// <summary>The queue's configuration (replaced when another node reconfigures it).</summary>
    public QueueProperties Properties { get; set; }

    /// <summary>The queue's bucket.</summary>
    public INatsKVStore Bucket { get; }

    /// <summary>Called (outside the gate) with the session id of each new message of a session that becomes known here.</summary>
    public Action<string>? SessionArrived { get; set; }

    /// <summary>Stops the watch when the queue is deleted or the store disposed.</summary>
    public CancellationTokenSource Stopping { get; } = new();

    /// <summary>Completes when the watch has brought every key's value as of its start.</summary>
    public Task Ready => _ready.Task;

    public void MarkReady() => _ready.TrySetResult();

    public void Fail(Exception error) => _ready.TrySetException(error);

    /// <summary>A task that completes at the next arrival of a message (a send here or one the watch brings).</summary>
    public Task NextArrival
    {
        get
        {
            lock (_gate)
            {
                return _arrival.Task;
            }
        }
    }

    /// <summary>Applies one change of the bucket (from the watch, or this node's own write); older revisions than known are ignored.</summary>
    public void Apply(string key, ulong revision, NatsKVOperation operation, byte[]? value, bool fromWatch)
    {
        TaskCompletionSource? arrived = null;
        string? session = null;
        lock (_gate)
        {
            if (key.StartsWith(QueueKeys.MessagePrefix, StringComparison.Ordinal))
            {
                arrived = ApplyMessage(key, revision, operation, value, fromWatch);
                session = arrived is null ? null : _messages.GetValueOrDefault(key)?.Header.SessionId;
            }
            else if (key.StartsWith(QueueKeys.SessionPrefix, StringComparison.Ordinal))
            {
                ApplySession(key, revision, operation, value);
            }
        }

        // Outside the lock: waiters run their continuations elsewhere, but never under this node's gate.
        arrived?.TrySetResult();
        if (session is not null)
        {
            SessionArrived?.Invoke(session);
        }
    }

    /// <summary>Records this node's write of a message value (after its revision came back).</summary>
    public void Written(string key, ulong revision, long seq, MessageHeader header, byte[] body)
    {
        TaskCompletionSource? arrived = null;
        lock (_gate)
        {
            var isNew = !_messages.TryGetValue(key, out var known);
            if (known is not null && known.Revision >= revision)
            {
                return;
            }

            _messages[key] = new IndexedMessage(key, revision, seq, header, body);
            _bySeq[seq] = key;
            if (isNew)
            {
                arrived = NextGeneration();
            }
        }

        arrived?.TrySetResult();
        if (arrived is not null && header.SessionId is { } session)
        {
            SessionArrived?.Invoke(session);
        }
    }

    /// <summary>Records this node's write of a session record.</summary>
    public void SessionWritten(string key, ulong revision, SessionRecord record)
    {
        lock (_gate)
        {
            if ((!_sessions.TryGetValue(key, out var known) || known.Revision < revision)
                && !(_deleted.TryGetValue(key, out var deletedAt) && revision <= deletedAt))
            {
                _sessions[key] = (revision, record);
            }
        }
    }

    /// <summary>
    /// The newest revision of a session's key this node knows (written here, or brought by the watch) with its record,
    /// null when that revision is a delete; revision 0 when it knows nothing. A read answered by a replica that lags
    /// behind is older than this, never newer.
    /// </summary>
    public (ulong Revision, SessionRecord? Record) KnownSession(string key)
    {
        lock (_gate)
        {
            var deletedAt = _deleted.GetValueOrDefault(key);
            return _sessions.TryGetValue(key, out var known) && known.Revision > deletedAt ? (known.Revision, known.Record) : (deletedAt, null);
        }
    }

    /// <summary>Records this node's delete of <paramref name="key"/> (the value at <paramref name="revision"/> was deleted).</summary>
    public void Deleted(string key, ulong revision)
    {
        lock (_gate)
        {
            if (_messages.Remove(key, out var known))
            {
                _bySeq.Remove(known.Seq);
            }

            _sessions.Remove(key);
            _deleted[key] = Math.Max(revision, _deleted.GetValueOrDefault(key));
        }
    }

    /// <summary>Wakes the waiters (a send of this node committed).</summary>
    public void NotifyArrival()
    {
        TaskCompletionSource arrived;
        lock (_gate)
        {
            arrived = NextGeneration();
        }

        arrived.TrySetResult();
    }

    public IndexedMessage? Find(string key)
    {
        lock (_gate)
        {
            return _messages.GetValueOrDefault(key);
        }
    }

    public IndexedMessage? FindBySeq(long seq)
    {
        lock (_gate)
        {
            return _bySeq.TryGetValue(seq, out var key) ? _messages.GetValueOrDefault(key) : null;
        }
    }

    public (ulong Revision, SessionRecord Record)? FindSession(string key)
    {
        lock (_gate)
        {
            return _sessions.TryGetValue(key, out var session) ? session : null;
        }
    }

    /// <summary>
    /// Up to <paramref name="max"/> messages a receive may take, marked as being claimed by this node until
    /// <see cref="Release"/>: from the dead-letter queue in send order, else available active messages of
    /// <paramref name="sessionId"/> (null: messages without a session), highest priority first, then in send order.
    /// </summary>
    public List<IndexedMessage> Claim(bool deadLetterQueue, string? sessionId, long now, int max)
    {
        lock (_gate)
        {
            var query = _messages.Values.Where(m => !_claiming.Contains(m.Key) && !m.Header.IsLocked(now));
            query = deadLetterQueue
                ? query.Where(m => m.Header.State == (int)QueueMessageState.DeadLettered).OrderBy(m => m.Seq)
                : query.Where(m => m.Header.State == (int)QueueMessageState.Active && m.Header.VisibleAt <= now
                        && string.Equals(m.Header.SessionId, sessionId, StringComparison.Ordinal))
                    .OrderByDescending(m => m.Header.Priority).ThenBy(m => m.Seq);
            var picked = query.Take(max).ToList();
            foreach (var message in picked)
            {
                _claiming.Add(message.Key);
            }

            return picked;
        }
    }

    /// <summary>Marks <paramref name="key"/> as being claimed; false when another receive of this node claims it.</summary>
    public bool TryClaim(string key)
    {
        lock (_gate)
        {
            return _claiming.Add(key);
        }
    }

    public void Release(string key)
    {
        lock (_gate)
        {
            _claiming.Remove(key);
        }
    }

    /// <summary>Sessions with an available message and no lock known here, oldest message first.</summary>
    public List<string> AvailableSessions(long now)
    {
        lock (_gate)
        {
            return _messages.Values
                .Where(m => m.Header.SessionId is not null && m.Header.State == (int)QueueMessageState.Active && m.IsAvailable(now)
                    && !(_sessions.TryGetValue(QueueKeys.SessionKey(m.Header.SessionId), out var s) && s.Record.IsLocked(now)))
                .OrderBy(m => m.Seq)
                .Select(m => m.Header.SessionId!)
                .Distinct(StringComparer.Ordinal)
                .Take(16)
                .ToList();
        }
    }

    /// <summary>Messages from <paramref name="fromSeq"/> on, in send order: dead-lettered ones, or all others.</summary>
    public List<IndexedMessage> Range(long fromSeq, int max, bool deadLetterQueue)
    {
        lock (_gate)
        {
            return _messages.Values
                .Where(m => m.Seq >= fromSeq && (m.Header.State == (int)QueueMessageState.DeadLettered) == deadLetterQueue)
                .OrderBy(m => m.Seq)
                .Take(max)
                .ToList();
        }
    }

    public QueueStatistics Statistics(long now)
    {
        lock (_gate)
        {
            long active = 0, scheduled = 0, deferred = 0, dead = 0, oldest = now;
            foreach (var message in _messages.Values)
            {
                var header = message.Header;
                switch (header.State)
                {
                    case (int)QueueMessageState.Deferred:
                        deferred++;
                        break;
                    case (int)QueueMessageState.DeadLettered:
                        dead++;
                        break;
                    default:
                        if (header.VisibleAt > now)
                        {
                            scheduled++;
                        }
                        else
                        {
                            active++;
                            oldest = Math.Min(oldest, header.EnqueuedAt);
                        }

                        break;
                }
            }

            return new QueueStatistics(active, scheduled, deferred, dead, TimeSpan.FromMilliseconds(Math.Max(0, now - oldest)));
        }
    }

    private TaskCompletionSource? ApplyMessage(string key, ulong revision, NatsKVOperation operation, byte[]? value, bool fromWatch)
    {
        if (_deleted.TryGetValue(key, out var deletedAt))
        {
            if (revision <= deletedAt)
            {
                return null;
            }

            if (fromWatch && operation != NatsKVOperation.Put)
            {
                _deleted.Remove(key);
            }
        }

        var known = _messages.GetValueOrDefault(key);
        if (known is not null && known.Revision >= revision)
        {
            return null;
        }

        if (operation != NatsKVOperation.Put || MessageHeader.Decode(value) is not { } decoded)
        {
            // Deleted (completed, dropped), purged, or not a message value.
            if (known is not null)
            {
                _messages.Remove(key);
                _bySeq.Remove(known.Seq);
            }

            return null;
        }

        var seq = decoded.Header.Seq > 0 ? decoded.Header.Seq : (long)revision;
        _messages[key] = new IndexedMessage(key, revision, seq, decoded.Header, decoded.Body);
        _bySeq[seq] = key;
        return known is null ? NextGeneration() : null;
    }

    private void ApplySession(string key, ulong revision, NatsKVOperation operation, byte[]? value)
    {
        if (_deleted.TryGetValue(key, out var deletedAt) && revision <= deletedAt)
        {
            return;
        }

        if (operation != NatsKVOperation.Put)
        {
            _deleted.Remove(key);
            _sessions.Remove(key);
            return;
        }

        if (_sessions.TryGetValue(key, out var known) && known.Revision >= revision)
        {
            return;
        }

        if (SessionRecord.Decode(value) is { } record)
        {
            _sessions[key] = (revision, record);
        }
    }

    private TaskCompletionSource NextGeneration()
    {
        var arrived = _arrival;
        _arrival = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return arrived;
    }
}
