namespace Iot.Routing.Queues;

/// <summary>Where a message is.</summary>
public enum QueueMessageState
{
    /// <summary>Available or locked.</summary>
    Active = 0,

    /// <summary>Waiting for its scheduled enqueue time.</summary>
    Scheduled = 1,

    /// <summary>Deferred: received only by sequence number.</summary>
    Deferred = 2,

    /// <summary>In the dead-letter queue.</summary>
    DeadLettered = 3,
}
