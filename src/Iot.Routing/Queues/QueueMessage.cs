namespace Iot.Routing.Queues;

/// <summary>A message to send to a queue.</summary>
public sealed class QueueMessage
{
    /// <summary>The body.</summary>
    public ReadOnlyMemory<byte> Body { get; init; }

    /// <summary>Identifies the message for duplicate detection; a new GUID when null.</summary>
    public string? MessageId { get; init; }

    /// <summary>The session (required by queues with sessions, ignored by others).</summary>
    public string? SessionId { get; init; }

    /// <summary>An application label, e.g. the MQTT topic or the command name.</summary>
    public string? Subject { get; init; }

    /// <summary>The body's content type.</summary>
    public string? ContentType { get; init; }

    /// <summary>Correlates replies with requests.</summary>
    public string? CorrelationId { get; init; }

    /// <summary>Where replies go (a queue name).</summary>
    public string? ReplyTo { get; init; }

    /// <summary>The session replies go to.</summary>
    public string? ReplyToSessionId { get; init; }

    /// <summary>Time to live from the (scheduled) enqueue time; the queue's default when null; capped by it.</summary>
    public TimeSpan? TimeToLive { get; init; }

    /// <summary>When the message becomes available; now when null.</summary>
    public DateTimeOffset? ScheduledEnqueueTime { get; init; }

    /// <summary>Higher first within the queue or session; 0 by default.</summary>
    public int Priority { get; init; }

    /// <summary>Application properties.</summary>
    public IReadOnlyDictionary<string, string>? ApplicationProperties { get; init; }
}

/// <summary>A message as received or peeked.</summary>
public sealed class ReceivedQueueMessage
{
    /// <summary>Assigned by the queue, increasing in send order.</summary>
    public required long SequenceNumber { get; init; }

    /// <summary>The message id.</summary>
    public required string MessageId { get; init; }

    /// <summary>The body.</summary>
    public required byte[] Body { get; init; }

    /// <summary>The session, when any.</summary>
    public string? SessionId { get; init; }

    /// <summary>The application label.</summary>
    public string? Subject { get; init; }

    /// <summary>The content type.</summary>
    public string? ContentType { get; init; }

    /// <summary>The correlation id.</summary>
    public string? CorrelationId { get; init; }

    /// <summary>Where replies go.</summary>
    public string? ReplyTo { get; init; }

    /// <summary>The session replies go to.</summary>
    public string? ReplyToSessionId { get; init; }

    /// <summary>The priority.</summary>
    public int Priority { get; init; }

    /// <summary>Application properties (empty when none).</summary>
    public IReadOnlyDictionary<string, string> ApplicationProperties { get; init; } = EmptyProperties;

    /// <summary>When it was sent.</summary>
    public DateTimeOffset EnqueuedTime { get; init; }

    /// <summary>When it became (or becomes) available.</summary>
    public DateTimeOffset ScheduledEnqueueTime { get; init; }

    /// <summary>When it expires; <see cref="DateTimeOffset.MaxValue"/> for never.</summary>
    public DateTimeOffset ExpiresAt { get; init; }

    /// <summary>Deliveries so far, this one included.</summary>
    public int DeliveryCount { get; init; }

    /// <summary>The lock token of a peek-lock receive; null otherwise.</summary>
    public string? LockToken { get; init; }

    /// <summary>When the lock expires; null when not locked.</summary>
    public DateTimeOffset? LockedUntil { get; init; }

    /// <summary>Where the message is.</summary>
    public QueueMessageState State { get; init; }

    /// <summary>The dead-letter reason.</summary>
    public string? DeadLetterReason { get; init; }

    /// <summary>The dead-letter description.</summary>
    public string? DeadLetterErrorDescription { get; init; }

    private static readonly Dictionary<string, string> EmptyProperties = [];
}

/// <summary>What a receive asks for.</summary>
public sealed class ReceiveRequest
{
    /// <summary>Messages to take at most; 1 by default, at most 1000.</summary>
    public int MaxMessages { get; init; } = 1;

    /// <summary>Peek-lock (default) or receive-and-delete.</summary>
    public ReceiveMode Mode { get; init; }

    /// <summary>For queues with sessions: the session, held through <see cref="SessionLockToken"/>.</summary>
    public string? SessionId { get; init; }

    /// <summary>For queues with sessions: the token from <see cref="IQueueStore.AcceptSessionAsync"/>.</summary>
    public string? SessionLockToken { get; init; }

    /// <summary>True to receive from the queue's dead-letter queue.</summary>
    public bool DeadLetterQueue { get; init; }
}
