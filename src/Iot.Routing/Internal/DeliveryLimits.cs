namespace Iot.Routing.Internal;

/// <summary>
/// What one subscription's deliveries may hold: pending events and their bytes (a delivery beyond either is not
/// recorded) and dead letters (dead-lettering beyond the cap deletes the subscription's oldest). Immutable; every
/// limit is at least 1, checked when it is made. Both routing stores (SQLite and JetStream) hold their limits in one.
/// </summary>
internal sealed record DeliveryLimits
{
    /// <summary>The limits; each must be at least 1 (<see cref="int.MaxValue"/> or <see cref="long.MaxValue"/>: none).</summary>
    public DeliveryLimits(int maxPendingEvents, long maxPendingBytes, int maxDeadLetteredEvents)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPendingEvents, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPendingBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDeadLetteredEvents, 1);
        MaxPendingEvents = maxPendingEvents;
        MaxPendingBytes = maxPendingBytes;
        MaxDeadLetteredEvents = maxDeadLetteredEvents;
    }

    /// <summary>Pending events one subscription may hold.</summary>
    public int MaxPendingEvents { get; }

    /// <summary>Bytes of pending events one subscription may hold.</summary>
    public long MaxPendingBytes { get; }

    /// <summary>Dead letters one subscription may hold.</summary>
    public int MaxDeadLetteredEvents { get; }

    /// <summary>How many of a subscription's <paramref name="deadLettered"/> events are beyond the cap (0: none).</summary>
    public long DeadLettersBeyondCap(long deadLettered) => Math.Max(0, deadLettered - MaxDeadLetteredEvents);
}
