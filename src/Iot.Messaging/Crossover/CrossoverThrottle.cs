namespace Iot.Messaging.Crossover;

/// <summary>
/// At most one event per key (a queue, a consumer group, a sink) per period: a condition that lasts raises one event
/// when it is first seen and one more each period while it lasts, not one per message or per check.
/// </summary>
/// <param name="period">The least time between two events of one key.</param>
/// <param name="timeProvider">The clock.</param>
public sealed class CrossoverThrottle(TimeSpan period, TimeProvider timeProvider)
{
    private readonly Dictionary<string, long> _last = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>True (and the key's period starts now) when the key raised nothing within the period; else false.</summary>
    public bool TryAcquire(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var now = timeProvider.GetTimestamp();
        lock (_lock)
        {
            if (_last.TryGetValue(key, out var last) && timeProvider.GetElapsedTime(last, now) < period)
            {
                return false;
            }

            _last[key] = now;
            return true;
        }
    }

    /// <summary>The condition of <paramref name="key"/> ended: the next time it is seen raises at once.</summary>
    public void Reset(string key)
    {
        lock (_lock)
        {
            _last.Remove(key);
        }
    }

    /// <summary>Forgets keys that are no longer checked (a deleted queue), keeping those in <paramref name="current"/>.</summary>
    public void RetainOnly(IReadOnlySet<string> current)
    {
        ArgumentNullException.ThrowIfNull(current);
        lock (_lock)
        {
            foreach (var key in _last.Keys.Where(k => !current.Contains(k)).ToList())
            {
                _last.Remove(key);
            }
        }
    }
}
