namespace Iot.Routing.Queues;

/// <summary>Reasons the queue gives dead-lettered messages (Service Bus's names).</summary>
public static class QueueDeadLetterReasons
{
    /// <summary>Delivered <see cref="QueueProperties.MaxDeliveryCount"/> times without being completed.</summary>
    public const string MaxDeliveryCountExceeded = "MaxDeliveryCountExceeded";

    /// <summary>Expired in a queue with <see cref="QueueProperties.DeadLetteringOnMessageExpiration"/>.</summary>
    public const string TtlExpired = "TTLExpiredException";
}
