using NATS.Client.KeyValueStore;
using Iot.Messaging.JetStream;

namespace Iot.Routing.Queues.JetStream;

internal sealed partial class JetStreamQueueStore
{
    /// <inheritdoc/>
    /// <remarks>
    /// Each message taken is one compare-and-set of its key (the lock, with the delivery count), those of one call sent
    /// together; an expired message met on the way is one instead. When one of them fails (JetStream unreachable) the
    /// call throws, and the messages locked by the others are delivered again when their locks expire.
    /// </remarks>
    public async Task<IReadOnlyList<ReceivedQueueMessage>> ReceiveAsync(string queue, ReceiveRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var index = await IndexAsync(queue).ConfigureAwait(false);
        var properties = index.Properties;
        var max = Math.Clamp(request.MaxMessages, 1, MaxMessagesPerCall);
        var sessionId = properties.RequiresSession && !request.DeadLetterQueue ? request.SessionId : null;
        if (properties.RequiresSession && !request.DeadLetterQueue && (string.IsNullOrEmpty(sessionId) || string.IsNullOrEmpty(request.SessionLockToken)))
        {
            throw new QueueException(QueueError.SessionRequired, $"The queue '{queue}' requires sessions: accept a session and receive with its sessionId and lock token.");
        }

        var now = Now();
        if (sessionId is not null && !(await ReadSessionAsync(index, sessionId, cancellationToken).ConfigureAwait(false) is { } held
            && IsHeldBy(held.Record, request.SessionLockToken!, now)))
        {
            throw new QueueException(QueueError.SessionLockLost, $"The lock of session '{sessionId}' is not held (expired, released or taken by another receiver).");
        }

        var lockUntil = now + (long)properties.LockDuration.TotalMilliseconds;
        var received = new List<ReceivedQueueMessage>(Math.Min(max, 16));
        for (var round = 0; received.Count < max && round < 100; round++)
        {
            var candidates = index.Claim(request.DeadLetterQueue, sessionId, now, max - received.Count);
            if (candidates.Count == 0)
            {
                break;
            }

            try
            {
                // The candidates' writes go out together (each its own compare-and-set) and are kept in the order chosen.
                var taken = await Task.WhenAll(candidates.Select(candidate =>
                    TakeAsync(index, properties, candidate, request, now, lockUntil, cancellationToken))).ConfigureAwait(false);
                received.AddRange(taken.OfType<ReceivedQueueMessage>());
            }
            finally
            {
                // Every candidate, also those after one whose write failed (JetStream unreachable): else this node
                // would never offer them again.
                foreach (var candidate in candidates)
                {
                    index.Release(candidate.Key);
                }
            }
        }

        if (received.Count == 0)
        {
            // An empty receive touches only the index and would complete synchronously: a caller that polls in a loop
            // would then hold its thread, starving the continuations of other receivers' writes (measured: 2 s stalls
            // with four competing consumers in bench/Iot.QueueBench).
            await Task.Yield();
        }

        return received;
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<ReceivedQueueMessage>> ReceiveDeferredAsync(string queue, IReadOnlyList<long> sequenceNumbers, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sequenceNumbers);
        var index = await IndexAsync(queue).ConfigureAwait(false);
        var now = Now();
        var lockUntil = now + (long)index.Properties.LockDuration.TotalMilliseconds;
        var received = new List<ReceivedQueueMessage>();
        foreach (var sequenceNumber in sequenceNumbers.Take(MaxMessagesPerCall))
        {
            var message = index.FindBySeq(sequenceNumber);
            var key = message?.Key;
            if (key is null || !index.TryClaim(key))
            {
                continue;
            }

            try
            {
                for (var attempt = 0; message is not null && attempt < 3; attempt++)
                {
                    if (message.Header.State != (int)QueueMessageState.Deferred || message.Header.IsLocked(now))
                    {
                        break;
                    }

                    var locked = Locked(message, now, lockUntil);
                    if (await TryUpdateAsync(index, message, locked, cancellationToken).ConfigureAwait(false))
                    {
                        received.Add(ToMessage(message with { Header = locked }, now, withLock: true));
                        break;
                    }

                    message = await RefreshAsync(index, message.Key, cancellationToken).ConfigureAwait(false);
                }
            }
            finally
            {
                index.Release(key);
            }
        }

        return received;
    }

    /// <inheritdoc/>
    public Task<SettleResult> CompleteAsync(string queue, string lockToken, CancellationToken cancellationToken = default) =>
        SettleAsync(queue, lockToken, async (index, _, message, ct) =>
            await TryDeleteAsync(index, message, ct).ConfigureAwait(false) ? SettleResult.Success : null, cancellationToken);

    /// <inheritdoc/>
    public Task<SettleResult> AbandonAsync(string queue, string lockToken, CancellationToken cancellationToken = default) =>
        SettleAsync(queue, lockToken, async (index, properties, message, ct) =>
        {
            var header = message.Header;
            if (header.State == (int)QueueMessageState.Active && header.DeliveryCount >= properties.MaxDeliveryCount)
            {
                var dead = DeadLettered(header, QueueDeadLetterReasons.MaxDeliveryCountExceeded,
                    $"Abandoned on delivery {header.DeliveryCount} of at most {properties.MaxDeliveryCount}.");
                return await TryUpdateAsync(index, message, dead, ct).ConfigureAwait(false) ? SettleResult.DeadLettered : null;
            }

            return await TryUpdateAsync(index, message, Unlocked(header), ct).ConfigureAwait(false) ? SettleResult.Success : null;
        }, cancellationToken);

    /// <inheritdoc/>
    public Task<SettleResult> DeadLetterAsync(string queue, string lockToken, string? reason, string? description, CancellationToken cancellationToken = default) =>
        SettleAsync(queue, lockToken, async (index, _, message, ct) =>
            await TryUpdateAsync(index, message, DeadLettered(message.Header, reason, description), ct).ConfigureAwait(false) ? SettleResult.Success : null,
            cancellationToken);

    /// <inheritdoc/>
    public Task<SettleResult> DeferAsync(string queue, string lockToken, CancellationToken cancellationToken = default) =>
        SettleAsync(queue, lockToken, async (index, _, message, ct) =>
        {
            if (message.Header.State == (int)QueueMessageState.DeadLettered)
            {
                throw new QueueException(QueueError.Invalid, "A dead-lettered message cannot be deferred.");
            }

            var deferred = Unlocked(message.Header) with { State = (int)QueueMessageState.Deferred };
            return await TryUpdateAsync(index, message, deferred, ct).ConfigureAwait(false) ? SettleResult.Success : null;
        }, cancellationToken);

    /// <inheritdoc/>
    public async Task<DateTimeOffset?> RenewLockAsync(string queue, string lockToken, CancellationToken cancellationToken = default)
    {
        var index = await IndexAsync(queue).ConfigureAwait(false);
        var until = Now() + (long)index.Properties.LockDuration.TotalMilliseconds;
        var result = await SettleAsync(queue, lockToken, async (held, _, message, ct) =>
            await TryUpdateAsync(held, message, message.Header with { LockedUntil = until }, ct).ConfigureAwait(false) ? SettleResult.Success : null,
            cancellationToken).ConfigureAwait(false);
        return result == SettleResult.Success ? FromMs(until) : null;
    }

    /// <summary>Takes one candidate: drops or dead-letters it when expired or out of deliveries, else locks (or deletes) it.</summary>
    private static async Task<ReceivedQueueMessage?> TakeAsync(QueueIndex index, QueueProperties properties, IndexedMessage candidate, ReceiveRequest request,
        long now, long lockUntil, CancellationToken cancellationToken)
    {
        var message = candidate;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var header = message.Header;
            var available = request.DeadLetterQueue
                ? header.State == (int)QueueMessageState.DeadLettered && !header.IsLocked(now)
                : header.State == (int)QueueMessageState.Active && message.IsAvailable(now) && string.Equals(header.SessionId, candidate.Header.SessionId, StringComparison.Ordinal);
            if (!available)
            {
                return null;
            }

            bool done;
            ReceivedQueueMessage? taken = null;
            if (!request.DeadLetterQueue && header.ExpiresAt <= now)
            {
                done = properties.DeadLetteringOnMessageExpiration
                    ? await TryUpdateAsync(index, message, DeadLettered(header, QueueDeadLetterReasons.TtlExpired, "The message expired before it was completed."),
                        cancellationToken).ConfigureAwait(false)
                    : await TryDeleteAsync(index, message, cancellationToken).ConfigureAwait(false);
            }
            else if (!request.DeadLetterQueue && header.DeliveryCount >= properties.MaxDeliveryCount)
            {
                done = await TryUpdateAsync(index, message, DeadLettered(header, QueueDeadLetterReasons.MaxDeliveryCountExceeded,
                    $"The lock expired on delivery {header.DeliveryCount} of at most {properties.MaxDeliveryCount}."), cancellationToken).ConfigureAwait(false);
            }
            else if (request.Mode == ReceiveMode.ReceiveAndDelete)
            {
                done = await TryDeleteAsync(index, message, cancellationToken).ConfigureAwait(false);
                taken = ToMessage(message with { Header = Unlocked(header) with { DeliveryCount = header.DeliveryCount + 1 } }, now, withLock: false);
            }
            else
            {
                var locked = Locked(message, now, lockUntil);
                done = await TryUpdateAsync(index, message, locked, cancellationToken).ConfigureAwait(false);
                taken = ToMessage(message with { Header = locked }, now, withLock: true);
            }

            if (done)
            {
                return taken;
            }

            // Another node changed it first: read its current value and decide again.
            if (await RefreshAsync(index, message.Key, cancellationToken).ConfigureAwait(false) is not { } current)
            {
                return null;
            }

            message = current;
        }

        return null;
    }

    private delegate Task<SettleResult?> Settle(QueueIndex index, QueueProperties properties, IndexedMessage message, CancellationToken cancellationToken);

    /// <summary>
    /// Finds the message a lock token names (the token holds its key, so any node can settle a lock taken on another),
    /// checks the lock, and runs <paramref name="settle"/>, which returns null when its compare-and-set lost: then the
    /// key is read again and the check repeated.
    /// </summary>
    private async Task<SettleResult> SettleAsync(string queue, string lockToken, Settle settle, CancellationToken cancellationToken)
    {
        var index = await IndexAsync(queue).ConfigureAwait(false);
        var now = Now();
        if (QueueKeys.MessageKeyOf(lockToken) is not { } key)
        {
            return SettleResult.LockLost;
        }

        var message = index.Find(key);
        var fresh = false;
        for (var attempt = 0; attempt < 4; attempt++)
        {
            if (message is null || !string.Equals(message.Header.LockToken, lockToken, StringComparison.Ordinal) || message.Header.LockedUntil <= now)
            {
                if (fresh)
                {
                    return SettleResult.LockLost;
                }

                // This node may not have seen the lock yet (taken on another node): read the key itself.
                message = await RefreshAsync(index, key, cancellationToken).ConfigureAwait(false);
                fresh = true;
                continue;
            }

            if (await settle(index, index.Properties, message, cancellationToken).ConfigureAwait(false) is { } result)
            {
                return result;
            }

            message = await RefreshAsync(index, key, cancellationToken).ConfigureAwait(false);
            fresh = true;
        }

        return SettleResult.LockLost;
    }

    /// <summary>Writes <paramref name="header"/> over <paramref name="message"/> if its key is still at the revision read; false when it is not.</summary>
    private static async Task<bool> TryUpdateAsync(QueueIndex index, IndexedMessage message, MessageHeader header, CancellationToken cancellationToken)
    {
        header = header with { Seq = message.Seq };
        var updated = await index.Bucket.TryUpdateExclusiveAsync(message.Key, header.Encode(message.Body), message.Revision, cancellationToken)
            .ConfigureAwait(false);
        if (!updated.Success)
        {
            return updated.Error is NatsKVWrongLastRevisionException ? false : throw updated.Error;
        }

        index.Written(message.Key, updated.Value, message.Seq, header, message.Body);
        return true;
    }

    /// <summary>Deletes <paramref name="message"/> if its key is still at the revision read; false when it is not.</summary>
    private static async Task<bool> TryDeleteAsync(QueueIndex index, IndexedMessage message, CancellationToken cancellationToken)
    {
        var deleted = await index.Bucket.TryDeleteExclusiveAsync(message.Key, message.Revision, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!deleted.Success)
        {
            return deleted.Error is NatsKVWrongLastRevisionException ? false : throw deleted.Error;
        }

        index.Deleted(message.Key, deleted.Value);
        return true;
    }

    /// <summary>Reads a message key from the bucket into the index; null when the read found no message.</summary>
    private static async Task<IndexedMessage?> RefreshAsync(QueueIndex index, string key, CancellationToken cancellationToken)
    {
        var entry = await index.Bucket.TryGetEntryAsync<byte[]>(key, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (entry.Success)
        {
            index.Apply(key, entry.Value.Revision, NatsKVOperation.Put, entry.Value.Value, fromWatch: false);
            return index.Find(key);
        }

        if (entry.Error is NatsKVKeyDeletedException deleted)
        {
            // Completed or dropped: a delete marker is final even when a lagging replica answers (a message key is never
            // written again), so it removes what the index still holds from before it. Without this, a message whose
            // marker this node's watch never brought (a completion that timed out while a NATS server was killed) stayed
            // in the index as available for good, and every receive here offered it in vain.
            index.Apply(key, deleted.Revision, NatsKVOperation.Del, null, fromWatch: false);
            return null;
        }

        // Not there (yet): a direct get may be answered by a replica that lags behind. The index keeps what it knows
        // (forgetting a message here lost it for this node until it changed again).
        return entry.Error is NatsKVKeyNotFoundException ? null : throw entry.Error;
    }

    private static MessageHeader Locked(IndexedMessage message, long now, long lockUntil) =>
        message.Header with
        {
            DeliveryCount = message.Header.DeliveryCount + 1,
            LockToken = QueueKeys.NewLockToken(message.Key),
            LockedUntil = lockUntil,
        };

    private static MessageHeader Unlocked(MessageHeader header) => header with { LockToken = null, LockedUntil = 0 };

    private static MessageHeader DeadLettered(MessageHeader header, string? reason, string? description) =>
        Unlocked(header) with { State = (int)QueueMessageState.DeadLettered, DeadLetterReason = reason, DeadLetterDescription = description };

    private static ReceivedQueueMessage ToMessage(IndexedMessage message, long now, bool withLock)
    {
        var header = message.Header;
        return new ReceivedQueueMessage
        {
            SequenceNumber = message.Seq,
            MessageId = header.MessageId,
            Body = message.Body,
            SessionId = header.SessionId,
            Subject = header.Subject,
            ContentType = header.ContentType,
            CorrelationId = header.CorrelationId,
            ReplyTo = header.ReplyTo,
            ReplyToSessionId = header.ReplyToSessionId,
            ApplicationProperties = header.Properties ?? new Dictionary<string, string>(),
            Priority = header.Priority,
            EnqueuedTime = FromMs(header.EnqueuedAt),
            ScheduledEnqueueTime = FromMs(header.VisibleAt),
            ExpiresAt = FromMs(header.ExpiresAt),
            DeliveryCount = header.DeliveryCount,
            LockToken = withLock ? header.LockToken : null,
            LockedUntil = header.IsLocked(now) ? FromMs(header.LockedUntil) : null,
            State = header.State switch
            {
                (int)QueueMessageState.Deferred => QueueMessageState.Deferred,
                (int)QueueMessageState.DeadLettered => QueueMessageState.DeadLettered,
                _ => header.VisibleAt > now ? QueueMessageState.Scheduled : QueueMessageState.Active,
            },
            DeadLetterReason = header.DeadLetterReason,
            DeadLetterErrorDescription = header.DeadLetterDescription,
        };
    }
}
