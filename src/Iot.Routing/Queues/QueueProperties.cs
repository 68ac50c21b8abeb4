using Iot.Messaging;

namespace Iot.Routing.Queues;

/// <summary>A queue's configuration. Defaults are Azure Service Bus's.</summary>
public sealed class QueueProperties
{
    /// <summary>The queue name: one of the platform's ids (<see cref="ResourceNames"/>) (names starting with <c>$</c> are the platform's).</summary>
    public required string Name { get; init; }

    /// <summary>How long a peek-lock receive holds a message (and an accepted session) before it is available again.</summary>
    /// <remarks>Default 60 s, range 1 s to 5 min.</remarks>
    public TimeSpan LockDuration { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Deliveries after which a message goes to the dead-letter queue with reason <c>MaxDeliveryCountExceeded</c>.</summary>
    /// <remarks>Default 10, range 1 to 2000.</remarks>
    public int MaxDeliveryCount { get; init; } = 10;

    /// <summary>Time to live of messages sent without their own.</summary>
    /// <remarks>Default none (<see cref="TimeSpan.MaxValue"/>); at least 1 s.</remarks>
    public TimeSpan DefaultMessageTimeToLive { get; init; } = TimeSpan.MaxValue;

    /// <summary>How long a <c>messageId</c> is remembered: a second message with it within the window is dropped.</summary>
    /// <remarks>Default 10 min, range 0 (off) to 7 days.</remarks>
    public TimeSpan DuplicateDetectionWindow { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Whether messages carry a session id and are received through a session lock, FIFO per session.</summary>
    /// <remarks>Default false. Cannot change after creation.</remarks>
    public bool RequiresSession { get; init; }

    /// <summary>Whether expired messages go to the dead-letter queue (reason <c>TTLExpiredException</c>) instead of being dropped.</summary>
    /// <remarks>Default false.</remarks>
    public bool DeadLetteringOnMessageExpiration { get; init; }

    /// <summary>The first configuration error, naming the field, or null when valid.</summary>
    public string? Validate()
    {
        if (LockDuration < TimeSpan.FromSeconds(1) || LockDuration > TimeSpan.FromMinutes(5))
        {
            return "lockDuration must be between 00:00:01 and 00:05:00.";
        }

        if (MaxDeliveryCount is < 1 or > 2000)
        {
            return "maxDeliveryCount must be between 1 and 2000.";
        }

        if (DefaultMessageTimeToLive < TimeSpan.FromSeconds(1))
        {
            return "defaultTtl must be at least 00:00:01.";
        }

        if (DuplicateDetectionWindow < TimeSpan.Zero || DuplicateDetectionWindow > TimeSpan.FromDays(7))
        {
            return "duplicateDetectionWindow must be between 00:00:00 and 7.00:00:00.";
        }

        return null;
    }
}
