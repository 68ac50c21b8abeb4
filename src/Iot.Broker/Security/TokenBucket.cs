namespace Iot.Broker.Security;

/// <summary>
/// A token bucket on monotonic timestamps: <see cref="Take"/> always takes a token and says how long the caller
/// must wait for the bucket to be back in credit (zero when a token was available); <see cref="TryTake"/> takes one
/// only when that wait stays within a bound, so that the debt never exceeds the bound. Not thread-safe.
/// </summary>
internal struct TokenBucket
{
    private readonly double _tokensPerTimestampTick;
    private readonly double _capacity;
    private readonly double _ratePerSecond;
    private double _tokens;
    private long _last;

    public TokenBucket(double ratePerSecond, double capacity, long nowTimestamp, long timestampFrequency)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ratePerSecond);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        _ratePerSecond = ratePerSecond;
        _tokensPerTimestampTick = ratePerSecond / timestampFrequency;
        _capacity = capacity;
        _tokens = capacity;
        _last = nowTimestamp;
    }

    public readonly long LastUsed => _last;

    /// <summary>Takes one token (going into debt if needed) and returns the wait until the debt is repaid.</summary>
    public TimeSpan Take(long nowTimestamp)
    {
        Refill(nowTimestamp);
        _tokens -= 1;
        return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / _ratePerSecond);
    }

    /// <summary>
    /// Takes one token when the wait until the debt is repaid would be at most <paramref name="maxWait"/>, and returns
    /// that wait in <paramref name="wait"/> (zero when a token was available). Otherwise takes nothing and returns false:
    /// a refused caller costs nothing, so the debt stays below <paramref name="maxWait"/> times the rate, and the bucket
    /// is back in credit at most <paramref name="maxWait"/> after the callers stop.
    /// </summary>
    public bool TryTake(long nowTimestamp, TimeSpan maxWait, out TimeSpan wait)
    {
        Refill(nowTimestamp);
        var after = _tokens - 1;
        wait = after >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-after / _ratePerSecond);
        if (wait > maxWait)
        {
            return false;
        }

        _tokens = after;
        return true;
    }

    private void Refill(long nowTimestamp)
    {
        var elapsed = nowTimestamp - _last;
        if (elapsed > 0)
        {
            _tokens = Math.Min(_capacity, _tokens + (elapsed * _tokensPerTimestampTick));
            _last = nowTimestamp;
        }
    }
}
