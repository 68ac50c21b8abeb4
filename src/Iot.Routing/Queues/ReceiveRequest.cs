namespace Iot.Routing.Queues;

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
