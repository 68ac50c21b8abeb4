namespace Iot.Routing.Subscriptions;

/// <summary>The delay before a webhook retry: after the n-th failed attempt, entry n-1; past the end, the last entry.</summary>
internal sealed class RetrySchedule(IReadOnlyList<TimeSpan> delays)
{
    public TimeSpan GetDelay(int failedAttempts)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(failedAttempts, 1);
        return delays[Math.Min(failedAttempts, delays.Count) - 1];
    }
}
