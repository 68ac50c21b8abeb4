namespace Iot.Routing.Queues;

/// <summary>The outcome of settling a message by lock token.</summary>
public enum SettleResult
{
    /// <summary>Done.</summary>
    Success = 0,

    /// <summary>The lock token is unknown or expired (the message may have been delivered to someone else).</summary>
    LockLost = 1,

    /// <summary>Abandoned, and the message had reached the maximum delivery count: it went to the dead-letter queue.</summary>
    DeadLettered = 2,
}
