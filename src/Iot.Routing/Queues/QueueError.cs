namespace Iot.Routing.Queues;

/// <summary>Why a queue operation cannot run.</summary>
public enum QueueError
{
    /// <summary>There is no such queue.</summary>
    NotFound = 0,

    /// <summary>The queue requires sessions and the operation gave none, or the session lock is not held.</summary>
    SessionRequired = 1,

    /// <summary>The session lock token is unknown or expired.</summary>
    SessionLockLost = 2,

    /// <summary>The message or request is invalid.</summary>
    Invalid = 3,
}
