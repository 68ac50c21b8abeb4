using System.Collections.Concurrent;
using System.Net;
using Iot.Broker.Mqtt;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Security;

/// <summary>New connections per second per source address (<see cref="MqttOptions.ConnectRatePerAddress"/>), burst twice the rate.</summary>
internal sealed class ConnectRateLimiter(IOptions<MqttOptions> options, TimeProvider timeProvider)
{
    private readonly ConcurrentDictionary<IPAddress, Entry> _buckets = new();
    private readonly int _rate = options.Value.ConnectRatePerAddress;

    public int TrackedAddresses => _buckets.Count;

    /// <summary>True when a connection from <paramref name="address"/> may proceed now.</summary>
    public bool TryAcquire(IPAddress? address)
    {
        if (address is null)
        {
            return true;
        }

        var now = timeProvider.GetTimestamp();
        var entry = _buckets.GetOrAdd(address, static (_, state) =>
            new Entry(new TokenBucket(state.Rate, state.Rate * 2, state.Now, state.Frequency)),
            (Rate: (double)_rate, Now: now, Frequency: timeProvider.TimestampFrequency));
        lock (entry)
        {
            return entry.Bucket.Take(now) == TimeSpan.Zero;
        }
    }

    /// <summary>Forgets addresses idle for a minute (their bucket is full again anyway).</summary>
    public void Prune()
    {
        var cutoff = timeProvider.GetTimestamp() - (60 * timeProvider.TimestampFrequency);
        foreach (var (address, entry) in _buckets)
        {
            if (entry.Bucket.LastUsed < cutoff)
            {
                _buckets.TryRemove(address, out _);
            }
        }
    }

    private sealed class Entry(TokenBucket bucket)
    {
        public TokenBucket Bucket = bucket;
    }
}
