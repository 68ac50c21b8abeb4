namespace Iot.Broker.Security;

/// <summary>
/// A token bucket on monotonic timestamps: <see cref="Take"/> always takes a token and says how long the caller
/// must wait for the bucket to be back in credit (zero when a token was available). Not thread-safe.
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
        var elapsed = nowTimestamp - _last;
        if (elapsed > 0)
        {
            _tokens = Math.Min(_capacity, _tokens + (elapsed * _tokensPerTimestampTick));
            _last = nowTimestamp;
        }

        _tokens -= 1;
        return _tokens >= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds(-_tokens / _ratePerSecond);
    }
}
