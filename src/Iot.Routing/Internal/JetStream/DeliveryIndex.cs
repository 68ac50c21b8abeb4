namespace Iot.Routing.Internal.JetStream;

/// <summary>
/// This node's view of the deliveries bucket: every delivery's newest known value and revision, by key, by order
/// (<see cref="StoredDelivery.Seq"/>) and by subscription, with the counts the quota checks. Fed by the store's own
/// writes as they are acknowledged (so a node reads its own writes at once) and by the bucket's watch (so it sees the
/// other nodes' writes within milliseconds). It is a cache: every change is a compare-and-set on the key's revision, so
/// a stale entry costs one failed write and a fresh read, never a lost or doubled change.
/// </summary>
/// <remarks>
/// One lock guards all of it; it is held for dictionary work only, never across an await or a callback. A value is
/// applied only when its revision is newer than the one held, and a key this node deleted keeps a tombstone until the
/// watch has passed the deleted revision, so a late watch message cannot bring it back.
/// </remarks>
internal sealed class DeliveryIndex
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _byKey = new(StringComparer.Ordinal);
    private readonly Dictionary<long, Entry> _bySeq = [];
    private readonly Dictionary<string, Subscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ulong> _tombstones = new(StringComparer.Ordinal);
    private readonly PriorityQueue<string, ulong> _tombstoneOrder = new();
    private readonly Dictionary<string, ulong> _purged = new(StringComparer.Ordinal);
    private ulong _watched;

    /// <summary>One delivery as this node last saw it.</summary>
    internal sealed record Entry(string Key, string Subscription, long Seq, ulong Revision, StoredDelivery Value)
    {
        public DeliveryRecord ToRecord() => Value.ToRecord(Subscription, Seq, Revision);
    }

    /// <summary>Applies a value (null: the key was deleted) at <paramref name="revision"/> unless a newer one is held.</summary>
    public void Apply(string key, string subscription, StoredDelivery? value, ulong revision, bool fromWatch)
    {
        lock (_lock)
        {
            if (fromWatch)
            {
                _watched = Math.Max(_watched, revision);
                ForgetPassedTombstones();
            }

            _byKey.TryGetValue(key, out var held);
            if (value is null)
            {
                // From the watch, the delete marker's own revision; from this node, the revision the delete compared
                // against (the marker's is later): either way what is held at or before it is gone.
                if (held is not null && (fromWatch ? held.Revision < revision : held.Revision <= revision))
                {
                    Remove(held);
                }

                if (!fromWatch)
                {
                    _tombstones[key] = revision;
                    _tombstoneOrder.Enqueue(key, revision);
                }

                return;
            }

            if (held is not null && held.Revision >= revision)
            {
                return;
            }

            if ((_tombstones.TryGetValue(key, out var deleted) && deleted >= revision)
                || (_purged.TryGetValue(subscription, out var purged) && purged >= revision))
            {
                return;
            }

            if (held is not null)
            {
                Remove(held);
            }

            long seq = value.Seq != 0 ? value.Seq : held?.Seq ?? (long)revision;
            Add(new Entry(key, subscription, seq, revision, value));
        }
    }

    /// <summary>Reserves room for one pending event of <paramref name="bytes"/>; false when the subscription is full.</summary>
    public bool TryReserve(string subscription, int bytes, int maxEvents, long maxBytes)
    {
        lock (_lock)
        {
            var counts = For(subscription);
            if (counts.PendingEvents + counts.ReservedEvents >= maxEvents || counts.PendingBytes + counts.ReservedBytes + bytes > maxBytes)
            {
                return false;
            }

            counts.ReservedEvents++;
            counts.ReservedBytes += bytes;
            return true;
        }
    }

    /// <summary>Gives back a reservation (the write was applied, or failed).</summary>
    public void Unreserve(string subscription, int bytes)
    {
        lock (_lock)
        {
            var counts = For(subscription);
            counts.ReservedEvents--;
            counts.ReservedBytes -= bytes;
        }
    }

    /// <summary>
    /// Drops a subscription's deliveries (its keys were purged when the bucket's last revision was
    /// <paramref name="purgedThrough"/>): what the watch still brings of them up to that revision is ignored.
    /// </summary>
    public void Forget(string subscription, ulong purgedThrough)
    {
        lock (_lock)
        {
            _purged[subscription] = Math.Max(purgedThrough, _purged.GetValueOrDefault(subscription));
            if (_subscriptions.Remove(subscription, out var counts))
            {
                foreach (var entry in counts.Pending.Values.Concat(counts.Dead))
                {
                    _byKey.Remove(entry.Key);
                    _bySeq.Remove(entry.Seq);
                }
            }
        }
    }

    public Entry? BySeq(long seq)
    {
        lock (_lock)
        {
            return _bySeq.GetValueOrDefault(seq);
        }
    }

    public Entry? ByKey(string key)
    {
        lock (_lock)
        {
            return _byKey.GetValueOrDefault(key);
        }
    }

    /// <summary>Pending deliveries due at <paramref name="now"/> and not locked (or whose lock ended), oldest first.</summary>
    public List<Entry> Due(string subscription, long now, int max)
    {
        var due = new List<Entry>();
        lock (_lock)
        {
            if (_subscriptions.TryGetValue(subscription, out var counts))
            {
                foreach (var entry in counts.Pending.Values)
                {
                    var v = entry.Value;
                    if (v.NextAttemptAt <= now && (v.LockToken is null || v.LockedUntil <= now))
                    {
                        due.Add(entry);
                        if (due.Count == max)
                        {
                            break;
                        }
                    }
                }
            }
        }

        return due;
    }

    public long? NextDue(string subscription)
    {
        lock (_lock)
        {
            return _subscriptions.TryGetValue(subscription, out var counts) && counts.Pending.Count > 0
                ? counts.Pending.Values.Min(e => e.Value.NextAttemptAt)
                : null;
        }
    }

    /// <summary>Dead letters oldest first (by the time they were dead-lettered, then order).</summary>
    public List<Entry> Dead(string subscription, int max)
    {
        lock (_lock)
        {
            return _subscriptions.TryGetValue(subscription, out var counts) ? [.. counts.Dead.Take(max)] : [];
        }
    }

    public (long Pending, long DeadLettered) Count(string subscription)
    {
        lock (_lock)
        {
            return _subscriptions.TryGetValue(subscription, out var counts) ? (counts.Pending.Count, counts.Dead.Count) : (0, 0);
        }
    }

    public (long Events, long Bytes) Quota(string subscription)
    {
        lock (_lock)
        {
            return _subscriptions.TryGetValue(subscription, out var counts) ? (counts.PendingEvents, counts.PendingBytes) : (0, 0);
        }
    }

    /// <summary>The highest revision the watch has applied: every change up to it is in this view.</summary>
    public ulong Watched
    {
        get
        {
            lock (_lock)
            {
                return _watched;
            }
        }
    }

    /// <summary>Every subscription this view has held deliveries of (their markers may still be in the bucket).</summary>
    public List<string> KnownSubscriptions()
    {
        lock (_lock)
        {
            return [.. _subscriptions.Keys];
        }
    }

    /// <summary>A subscription's deliveries whose newest revision is below <paramref name="revision"/>, and the lowest revision it holds.</summary>
    public (List<Entry> Older, ulong? Lowest) Revisions(string subscription, ulong revision)
    {
        var older = new List<Entry>();
        ulong? lowest = null;
        lock (_lock)
        {
            if (_subscriptions.TryGetValue(subscription, out var counts))
            {
                foreach (var entry in counts.Pending.Values.Concat(counts.Dead))
                {
                    lowest = Math.Min(lowest ?? ulong.MaxValue, entry.Revision);
                    if (entry.Revision < revision)
                    {
                        older.Add(entry);
                    }
                }
            }
        }

        return (older, lowest);
    }

    /// <summary>The subscriptions that hold deliveries.</summary>
    public List<string> Subscriptions()
    {
        lock (_lock)
        {
            return [.. _subscriptions.Where(s => s.Value.Pending.Count + s.Value.Dead.Count > 0).Select(s => s.Key)];
        }
    }

    private Subscription For(string subscription)
    {
        if (!_subscriptions.TryGetValue(subscription, out var counts))
        {
            _subscriptions[subscription] = counts = new Subscription();
        }

        return counts;
    }

    private void Add(Entry entry)
    {
        _byKey[entry.Key] = entry;
        _bySeq[entry.Seq] = entry;
        var counts = For(entry.Subscription);
        if (entry.Value.DeadLettered)
        {
            counts.Dead.Add(entry);
        }
        else
        {
            counts.Pending[entry.Seq] = entry;
            counts.PendingBytes += entry.Value.Event.Length;
        }
    }

    private void Remove(Entry entry)
    {
        _byKey.Remove(entry.Key);
        _bySeq.Remove(entry.Seq);
        if (!_subscriptions.TryGetValue(entry.Subscription, out var counts))
        {
            return;
        }

        if (entry.Value.DeadLettered)
        {
            counts.Dead.Remove(entry);
        }
        else if (counts.Pending.Remove(entry.Seq))
        {
            counts.PendingBytes -= entry.Value.Event.Length;
        }
    }

    private void ForgetPassedTombstones()
    {
        while (_tombstoneOrder.TryPeek(out var key, out var revision) && revision <= _watched)
        {
            _tombstoneOrder.Dequeue();
            if (_tombstones.TryGetValue(key, out var held) && held <= _watched)
            {
                _tombstones.Remove(key);
            }
        }
    }

    private sealed class Subscription
    {
        public SortedDictionary<long, Entry> Pending { get; } = [];

        public SortedSet<Entry> Dead { get; } = new(DeadOrder.Instance);

        public long PendingEvents => Pending.Count;

        public long PendingBytes { get; set; }

        public long ReservedEvents { get; set; }

        public long ReservedBytes { get; set; }
    }

    private sealed class DeadOrder : IComparer<Entry>
    {
        public static readonly DeadOrder Instance = new();

        public int Compare(Entry? x, Entry? y)
        {
            int byTime = Nullable.Compare(x!.Value.DeadLetteredAt, y!.Value.DeadLetteredAt);
            return byTime != 0 ? byTime : x.Seq.CompareTo(y.Seq);
        }
    }
}
