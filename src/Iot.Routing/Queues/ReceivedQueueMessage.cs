namespace Iot.Routing.Queues;

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

    /// <summary>This message with another body and content type (a claim-checked body resolved or given a fresh URL).</summary>
    internal ReceivedQueueMessage WithBody(byte[] body, string? contentType) => new()
    {
        SequenceNumber = SequenceNumber,
        MessageId = MessageId,
        Body = body,
        SessionId = SessionId,
        Subject = Subject,
        ContentType = contentType,
        CorrelationId = CorrelationId,
        ReplyTo = ReplyTo,
        ReplyToSessionId = ReplyToSessionId,
        Priority = Priority,
        ApplicationProperties = ApplicationProperties,
        EnqueuedTime = EnqueuedTime,
        ScheduledEnqueueTime = ScheduledEnqueueTime,
        ExpiresAt = ExpiresAt,
        DeliveryCount = DeliveryCount,
        LockToken = LockToken,
        LockedUntil = LockedUntil,
        State = State,
        DeadLetterReason = DeadLetterReason,
        DeadLetterErrorDescription = DeadLetterErrorDescription,
    };
}
