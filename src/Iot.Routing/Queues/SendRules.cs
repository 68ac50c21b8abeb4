namespace Iot.Routing.Queues;

/// <summary>Where a message sent to a queue stands when it is stored: the checks and times every queue store applies alike.</summary>
/// <param name="SessionId">The session (null unless the queue requires sessions).</param>
/// <param name="MessageId">The sender's message id, or a generated one.</param>
/// <param name="Tracked">Whether the sender chose the id (only those can repeat, so only those are remembered for duplicate detection).</param>
/// <param name="VisibleAt">When the message becomes available (Unix ms): now, or its scheduled time.</param>
/// <param name="ExpiresAt">When it expires (Unix ms; <see cref="long.MaxValue"/> for never).</param>
internal readonly record struct SendRules(string? SessionId, string MessageId, bool Tracked, long VisibleAt, long ExpiresAt)
{
    /// <summary>Checks <paramref name="message"/> against <paramref name="properties"/> at <paramref name="now"/> (Unix ms).</summary>
    /// <exception cref="QueueException">The queue requires a session and the message has none, or its TTL is not positive.</exception>
    public static SendRules For(string queue, QueueProperties properties, QueueMessage message, long now)
    {
        ArgumentNullException.ThrowIfNull(properties);
        ArgumentNullException.ThrowIfNull(message);
        var sessionId = properties.RequiresSession ? message.SessionId : null;
        if (properties.RequiresSession && string.IsNullOrEmpty(sessionId))
        {
            throw new QueueException(QueueError.SessionRequired, $"The queue '{queue}' requires a sessionId on every message.");
        }

        if (message.TimeToLive is { } ttl && ttl <= TimeSpan.Zero)
        {
            throw new QueueException(QueueError.Invalid, "ttl must be positive.");
        }

        var visibleAt = message.ScheduledEnqueueTime is { } scheduled ? Math.Max(now, scheduled.ToUnixTimeMilliseconds()) : now;
        var timeToLive = message.TimeToLive is { } own && own < properties.DefaultMessageTimeToLive ? own : properties.DefaultMessageTimeToLive;
        var tracked = !string.IsNullOrEmpty(message.MessageId);
        return new SendRules(sessionId, tracked ? message.MessageId! : Guid.NewGuid().ToString("N"), tracked, visibleAt, AddMilliseconds(visibleAt, timeToLive));
    }

    private static long AddMilliseconds(long at, TimeSpan span) =>
        span == TimeSpan.MaxValue || span.TotalMilliseconds >= long.MaxValue - at ? long.MaxValue : at + (long)span.TotalMilliseconds;
}
