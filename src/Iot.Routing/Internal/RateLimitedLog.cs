using System.Collections.Concurrent;

namespace Iot.Routing.Internal;

/// <summary>
/// At most one log line per key and interval: <see cref="ShouldLog"/> says whether to log now and how many occurrences
/// of the key were not logged since its last line.
/// </summary>
internal sealed class RateLimitedLog(TimeSpan interval, TimeProvider timeProvider)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>True when <paramref name="key"/> was not logged within the interval before <paramref name="timestamp"/>.</summary>
    public bool ShouldLog(string key, long timestamp, out long suppressed)
    {
        var entry = _entries.GetOrAdd(key, static _ => new Entry());
        lock (entry)
        {
            if (entry.Logged && timeProvider.GetElapsedTime(entry.LastLogged, timestamp) < interval)
            {
                entry.Suppressed++;
                suppressed = 0;
                return false;
            }

            suppressed = entry.Suppressed;
            entry.Suppressed = 0;
            entry.LastLogged = timestamp;
            entry.Logged = true;
            return true;
        }
    }

    private sealed class Entry
    {
        public bool Logged { get; set; }

        public long LastLogged { get; set; }

        public long Suppressed { get; set; }
    }
}
