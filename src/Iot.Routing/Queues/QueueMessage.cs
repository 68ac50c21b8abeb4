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
