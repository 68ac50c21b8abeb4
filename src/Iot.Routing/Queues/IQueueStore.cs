namespace Iot.Routing.Queues;

/// <summary>
/// Durable queues with Azure Service Bus semantics: peek-lock and receive-and-delete, complete, abandon,
/// dead-letter, defer, delivery counts, time to live, duplicate detection, sessions with state, scheduled messages,
/// priority, peek and statistics. The platform's implementation is SQLite (<see cref="SqliteQueueStore"/>); a
/// distributed engine (e.g. NATS JetStream) implements the same contract, checked by the same contract tests.
/// </summary>
/// <remarks>
/// Every task completes after the change is durable. Operations on an unknown queue, a session queue without a
/// session or an invalid message throw <see cref="QueueException"/>; settling with a stale lock token is a result.
/// Times come from the store's <see cref="TimeProvider"/>.
/// </remarks>
public interface IQueueStore
{
    /// <summary>The queues, by name.</summary>
    IReadOnlyList<QueueProperties> Queues { get; }

    /// <summary>Finds a queue by name without I/O.</summary>
    QueueProperties? FindQueue(string name);

    /// <summary>Creates or reconfigures a queue; true when created. <see cref="QueueProperties.RequiresSession"/> cannot change.</summary>
    Task<bool> CreateOrUpdateQueueAsync(QueueProperties properties, CancellationToken cancellationToken = default);

    /// <summary>Deletes a queue and all its messages and sessions; false when it did not exist.</summary>
    Task<bool> DeleteQueueAsync(string queue, CancellationToken cancellationToken = default);

    /// <summary>Sends messages in one durable write; duplicates (by message id, within the window) are reported, not stored.</summary>
    Task<IReadOnlyList<SendResult>> SendAsync(string queue, IReadOnlyList<QueueMessage> messages, CancellationToken cancellationToken = default);

    /// <summary>Cancels a scheduled message that is not yet available; false when there is none with that number.</summary>
    Task<bool> CancelScheduledMessageAsync(string queue, long sequenceNumber, CancellationToken cancellationToken = default);

    /// <summary>
    /// Receives available messages, highest priority first, then in send order. Expired messages met on the way are
    /// dead-lettered or dropped, and messages already delivered <see cref="QueueProperties.MaxDeliveryCount"/> times
    /// (a lock expired on the last delivery) are dead-lettered. Returns an empty list when none is available.
    /// </summary>
    Task<IReadOnlyList<ReceivedQueueMessage>> ReceiveAsync(string queue, ReceiveRequest request, CancellationToken cancellationToken = default);

    /// <summary>
    /// Waits until a send to the queue committed (a message may be available) or <paramref name="timeout"/> passed;
    /// true when woken by a send. Long-polling receivers start it before the receive it guards (and await it when that
    /// receive was empty), so that a send committed in between is not missed.
    /// </summary>
    Task<bool> WaitForMessagesAsync(string queue, TimeSpan timeout, CancellationToken cancellationToken = default);

    /// <summary>Locks deferred messages by sequence number (peek-lock); unknown numbers are skipped.</summary>
    Task<IReadOnlyList<ReceivedQueueMessage>> ReceiveDeferredAsync(string queue, IReadOnlyList<long> sequenceNumbers, CancellationToken cancellationToken = default);

    /// <summary>Completes (deletes) a locked message: it is never delivered again.</summary>
    Task<SettleResult> CompleteAsync(string queue, string lockToken, CancellationToken cancellationToken = default);

    /// <summary>Releases a lock so the message is available at once; at the maximum delivery count it is dead-lettered instead.</summary>
    Task<SettleResult> AbandonAsync(string queue, string lockToken, CancellationToken cancellationToken = default);

    /// <summary>Moves a locked message to the dead-letter queue with a reason and description.</summary>
    Task<SettleResult> DeadLetterAsync(string queue, string lockToken, string? reason, string? description, CancellationToken cancellationToken = default);

    /// <summary>Defers a locked message: it stays in the queue and is received only by sequence number.</summary>
    Task<SettleResult> DeferAsync(string queue, string lockToken, CancellationToken cancellationToken = default);

    /// <summary>Extends a message lock by the queue's lock duration; null when the lock was lost.</summary>
    Task<DateTimeOffset?> RenewLockAsync(string queue, string lockToken, CancellationToken cancellationToken = default);

    /// <summary>Reads messages from <paramref name="fromSequenceNumber"/> on without locking them (all states but dead-lettered, or only those).</summary>
    Task<IReadOnlyList<ReceivedQueueMessage>> PeekAsync(string queue, long fromSequenceNumber, int maxMessages, bool deadLetterQueue,
        CancellationToken cancellationToken = default);

    /// <summary>Reads one message in any state by sequence number; null once it is completed, deleted or dropped.</summary>
    Task<ReceivedQueueMessage?> GetMessageAsync(string queue, long sequenceNumber, CancellationToken cancellationToken = default);

    /// <summary>Counts the queue's messages.</summary>
    Task<QueueStatistics> GetStatisticsAsync(string queue, CancellationToken cancellationToken = default);

    /// <summary>
    /// Locks a session for one receiver: the named one, or (null) the one with the oldest available message.
    /// Null when that session is locked by someone else or no session has available messages.
    /// </summary>
    Task<SessionLock?> AcceptSessionAsync(string queue, string? sessionId, CancellationToken cancellationToken = default);

    /// <summary>Extends a session lock; null when it was lost.</summary>
    Task<DateTimeOffset?> RenewSessionLockAsync(string queue, string sessionId, string sessionLockToken, CancellationToken cancellationToken = default);

    /// <summary>Releases a session lock so another receiver may accept the session; false when it was not held.</summary>
    Task<bool> ReleaseSessionAsync(string queue, string sessionId, string sessionLockToken, CancellationToken cancellationToken = default);

    /// <summary>Reads a session's state; null when never set.</summary>
    Task<byte[]?> GetSessionStateAsync(string queue, string sessionId, CancellationToken cancellationToken = default);

    /// <summary>Sets (null clears) a session's state under its session lock; false when the lock is not held.</summary>
    Task<bool> SetSessionStateAsync(string queue, string sessionId, string sessionLockToken, ReadOnlyMemory<byte>? state,
        CancellationToken cancellationToken = default);
}
