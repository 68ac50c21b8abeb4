using System.Collections.Concurrent;
using System.Net;
using Iot.Broker.Mqtt;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Security;

/// <summary>
/// New connections per source address: a token bucket of <see cref="MqttOptions.ConnectRatePerAddress"/> per second,
/// burst twice the rate. A connection beyond the burst is not refused at once but answered later, when its token is
/// due, as long as that is within <see cref="MqttOptions.ConnectRateMaxDelaySeconds"/>: a burst of honest clients
/// behind one address (a NAT, a gateway reconnecting its fleet) is slowed to the rate, not cut off. Only beyond that
/// delay is a connection refused, and a refused one takes no token, so the debt of an address is bounded by rate
/// times delay: it is back in credit at most <see cref="MqttOptions.ConnectRateMaxDelaySeconds"/> after a flood ends.
/// </summary>
internal sealed class ConnectRateLimiter(IOptions<MqttOptions> options, TimeProvider timeProvider)
{
    private readonly ConcurrentDictionary<IPAddress, Entry> _buckets = new();
    private readonly int _rate = options.Value.ConnectRatePerAddress;
    private readonly TimeSpan _maxDelay = TimeSpan.FromSeconds(options.Value.ConnectRateMaxDelaySeconds);

    public int TrackedAddresses => _buckets.Count;

    /// <summary>
    /// True when a connection from <paramref name="address"/> may proceed, after <paramref name="delay"/> (zero within
    /// the burst); false when it must be refused (nothing is charged for it).
    /// </summary>
    public bool TryAcquire(IPAddress? address, out TimeSpan delay)
    {
        delay = TimeSpan.Zero;
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
            return entry.Bucket.TryTake(now, _maxDelay, out delay);
        }
    }

    /// <summary>Forgets addresses idle for a minute (their bucket is full again: the debt is repaid within the maximum delay).</summary>
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
