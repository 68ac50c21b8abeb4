namespace Iot.Broker.Cluster.Leases;

/// <summary>The lease counters of this node, rendered as <c>iot_cluster_leases_*</c> in <c>/metrics</c> (docs/api.md).</summary>
internal sealed class LeaseMetrics
{
    private long _held;
    private long _acquired;
    private long _takeovers;
    private long _lost;
    private long _renewFailures;

    /// <summary>Leases this node holds now.</summary>
    public long Held => Volatile.Read(ref _held);

    /// <summary>Leases this node acquired (free or expired ones).</summary>
    public long Acquired => Volatile.Read(ref _acquired);

    /// <summary>Of <see cref="Acquired"/>, those taken over from another holder whose lease had expired.</summary>
    public long Takeovers => Volatile.Read(ref _takeovers);

    /// <summary>Leases this node lost (renewal refused, or not renewed in time) while its work ran.</summary>
    public long Lost => Volatile.Read(ref _lost);

    /// <summary>Renewals that failed (NATS did not answer in time); the lease is kept until the give-up time.</summary>
    public long RenewFailures => Volatile.Read(ref _renewFailures);

    public void OnAcquired(bool takeover)
    {
        Interlocked.Increment(ref _held);
        Interlocked.Increment(ref _acquired);
        if (takeover)
        {
            Interlocked.Increment(ref _takeovers);
        }
    }

    public void OnEnded(bool lost)
    {
        Interlocked.Decrement(ref _held);
        if (lost)
        {
            Interlocked.Increment(ref _lost);
        }
    }

    public void RenewFailed() => Interlocked.Increment(ref _renewFailures);
}
