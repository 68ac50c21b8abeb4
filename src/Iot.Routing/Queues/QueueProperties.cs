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

/// <summary>Counts of a queue's messages.</summary>
/// <param name="Active">Messages available or locked (not scheduled, deferred or dead-lettered).</param>
/// <param name="Scheduled">Messages whose scheduled enqueue time is still ahead.</param>
/// <param name="Deferred">Deferred messages, received only by sequence number.</param>
/// <param name="DeadLettered">Messages in the dead-letter queue.</param>
/// <param name="OldestActiveAge">Age of the oldest active message; zero when there is none.</param>
public sealed record QueueStatistics(long Active, long Scheduled, long Deferred, long DeadLettered, TimeSpan OldestActiveAge);

/// <summary>A session lock: the only receiver that may take the session's messages until <see cref="LockedUntil"/>.</summary>
/// <param name="SessionId">The session.</param>
/// <param name="LockToken">Proof of holding the lock (receive, renew, release, set state).</param>
/// <param name="LockedUntil">When the lock expires unless renewed.</param>
public sealed record SessionLock(string SessionId, string LockToken, DateTimeOffset LockedUntil);

/// <summary>How a receive takes messages.</summary>
public enum ReceiveMode
{
    /// <summary>Locks the messages; the receiver completes, abandons, dead-letters or defers them.</summary>
    PeekLock = 0,

    /// <summary>Deletes the messages as they are handed out (at most once).</summary>
    ReceiveAndDelete = 1,
}

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

/// <summary>The outcome of sending one message.</summary>
/// <param name="SequenceNumber">The message's sequence number (that of the original when <paramref name="Duplicate"/>, when still present; else 0).</param>
/// <param name="Duplicate">True when a message with the same id was sent within the duplicate detection window: nothing was stored.</param>
public readonly record struct SendResult(long SequenceNumber, bool Duplicate);

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

/// <summary>A queue operation that cannot run (unknown queue, missing session, invalid message).</summary>
public sealed class QueueException : Exception
{
    /// <summary>Creates the exception.</summary>
    public QueueException(QueueError error, string message)
        : base(message) => Error = error;

    /// <summary>Creates the exception with the default message.</summary>
    public QueueException()
        : this(QueueError.Invalid, "Invalid queue operation.")
    {
    }

    /// <summary>Creates the exception.</summary>
    public QueueException(string message)
        : this(QueueError.Invalid, message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public QueueException(string message, Exception innerException)
        : base(message, innerException) => Error = QueueError.Invalid;

    /// <summary>The kind of failure.</summary>
    public QueueError Error { get; }
}

/// <summary>Reasons the queue gives dead-lettered messages (Service Bus's names).</summary>
public static class QueueDeadLetterReasons
{
    /// <summary>Delivered <see cref="QueueProperties.MaxDeliveryCount"/> times without being completed.</summary>
    public const string MaxDeliveryCountExceeded = "MaxDeliveryCountExceeded";

    /// <summary>Expired in a queue with <see cref="QueueProperties.DeadLetteringOnMessageExpiration"/>.</summary>
    public const string TtlExpired = "TTLExpiredException";
}
