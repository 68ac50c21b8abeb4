using System.Collections.Concurrent;

namespace Iot.Broker.Security;

/// <summary>
/// Failed-login counts by key (address or username) for <see cref="LoginBackoff"/>, with a bounded number of keys:
/// entries are forgotten a fixed time after their last failure, and when the table is full a new key is not tracked
/// (after an attempt to forget, at most once a second) instead of growing it.
/// </summary>
internal sealed class BackoffTable<TKey>(int capacity, long forgetAfterTicks, TimeProvider time, IEqualityComparer<TKey>? comparer)
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, BackoffEntry> _entries = new(comparer);
    private long _lastFullPrune = time.GetTimestamp() - time.TimestampFrequency;

    public int Count => _entries.Count;

    public bool TryGet(TKey key, out BackoffEntry entry) => _entries.TryGetValue(key, out entry!);

    /// <summary>The entry of <paramref name="key"/>, added when missing; false when the table is full.</summary>
    public bool GetOrAdd(TKey key, out BackoffEntry entry)
    {
        if (_entries.TryGetValue(key, out entry!))
        {
            return true;
        }

        if (_entries.Count >= capacity)
        {
            var now = time.GetTimestamp();
            var last = Interlocked.Read(ref _lastFullPrune);
            if (now - last >= time.TimestampFrequency && Interlocked.CompareExchange(ref _lastFullPrune, now, last) == last)
            {
                Prune();
            }

            if (_entries.Count >= capacity)
            {
                entry = null!;
                return false;
            }
        }

        entry = _entries.GetOrAdd(key, static _ => new BackoffEntry());
        return true;
    }

    public void Remove(TKey key) => _entries.TryRemove(key, out _);

    /// <summary>Forgets entries whose last failure is older than the forget time and whose back-off has ended.</summary>
    public void Prune()
    {
        var now = time.GetTimestamp();
        foreach (var (key, entry) in _entries)
        {
            bool stale;
            lock (entry)
            {
                stale = now - entry.LastFailure > forgetAfterTicks && entry.NextSlot <= now;
            }

            if (stale)
            {
                _entries.TryRemove(new KeyValuePair<TKey, BackoffEntry>(key, entry));
            }
        }
    }
}

/// <summary>One key's consecutive failures; guarded by locking the entry.</summary>
internal sealed class BackoffEntry
{
    public int Failures;
    public long LastFailure;
    public long NextSlot;
}
