namespace Iot.Broker.Cluster.Leases;

/// <summary>
/// The timing of a lease, on both sides: a holder renews every <see cref="RenewInterval"/> and gives up (its work stops)
/// <see cref="GiveUpAfter"/> after the last renewal it sent that succeeded; another node may take the lease once the
/// holder's record is older than <see cref="Duration"/> by its own clock (<see cref="IsExpired"/>). Giving up comes first
/// by <see cref="SafetyMargin"/>, which has to cover the clock difference between nodes.
/// </summary>
internal sealed record LeaseSchedule(TimeSpan Duration, TimeSpan SafetyMargin)
{
    /// <summary>From <see cref="ClusterOptions.LeaseDuration"/> and <see cref="ClusterOptions.LeaseSafetyMargin"/>.</summary>
    public static LeaseSchedule From(ClusterOptions options) => new(options.LeaseDuration, options.LeaseSafetyMargin);

    /// <summary>A third of the duration: two renewals may fail before the holder gives up.</summary>
    public TimeSpan RenewInterval => Duration / 3;

    /// <summary>After a failed renewal, the next try (sooner than <see cref="RenewInterval"/>, so a short NATS hiccup costs nothing).</summary>
    public TimeSpan RetryInterval => TimeSpan.FromTicks(Math.Min(RenewInterval.Ticks, TimeSpan.FromSeconds(1).Ticks));

    /// <summary>How long after sending a renewal that succeeded the holder still holds the lease by its own clock.</summary>
    public TimeSpan GiveUpAfter => Duration - SafetyMargin;

    /// <summary>Whether a lease of <paramref name="duration"/> (the holder's) whose record this node has seen unchanged
    /// for <paramref name="unchangedFor"/> (this node's clock) has expired.</summary>
    public static bool IsExpired(TimeSpan unchangedFor, TimeSpan duration) => unchangedFor >= duration;

    /// <summary>How long a reader waits before looking again at a lease held elsewhere: until it would expire, at most
    /// <see cref="RenewInterval"/> (the holder may release it sooner), at least 50 ms.</summary>
    public TimeSpan NextLook(TimeSpan unchangedFor, TimeSpan duration)
    {
        var untilExpiry = duration - unchangedFor;
        return TimeSpan.FromTicks(Math.Clamp(untilExpiry.Ticks + TimeSpan.TicksPerMillisecond * 50, TimeSpan.TicksPerMillisecond * 50, RenewInterval.Ticks));
    }
}
