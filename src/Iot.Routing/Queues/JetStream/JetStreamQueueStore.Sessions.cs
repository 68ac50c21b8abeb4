using NATS.Client.KeyValueStore;
using Iot.Messaging.JetStream;

namespace Iot.Routing.Queues.JetStream;

internal sealed partial class JetStreamQueueStore
{
    /// <inheritdoc/>
    /// <remarks>One read and one create or compare-and-set of the session's <c>l.</c> key: one lock holder cluster-wide.</remarks>
    public async Task<SessionLock?> AcceptSessionAsync(string queue, string? sessionId, CancellationToken cancellationToken = default)
    {
        var index = await SessionIndexAsync(queue).ConfigureAwait(false);
        var now = Now();
        var until = now + (long)index.Properties.LockDuration.TotalMilliseconds;
        if (sessionId is not null)
        {
            return await TryAcceptAsync(index, sessionId, now, until, cancellationToken).ConfigureAwait(false);
        }

        // The session with the oldest available message this node knows of; one taken meanwhile by another node is skipped.
        foreach (var candidate in index.AvailableSessions(now))
        {
            if (await TryAcceptAsync(index, candidate, now, until, cancellationToken).ConfigureAwait(false) is { } accepted)
            {
                return accepted;
            }
        }

        return null;
    }

    /// <inheritdoc/>
    public async Task<DateTimeOffset?> RenewSessionLockAsync(string queue, string sessionId, string sessionLockToken, CancellationToken cancellationToken = default)
    {
        var index = await SessionIndexAsync(queue).ConfigureAwait(false);
        var now = Now();
        var until = now + (long)index.Properties.LockDuration.TotalMilliseconds;
        var renewed = await ChangeSessionAsync(index, sessionId, sessionLockToken, now, record => record with { LockedUntil = until }, cancellationToken)
            .ConfigureAwait(false);
        return renewed ? FromMs(until) : null;
    }

    /// <inheritdoc/>
    public async Task<bool> ReleaseSessionAsync(string queue, string sessionId, string sessionLockToken, CancellationToken cancellationToken = default)
    {
        var index = await SessionIndexAsync(queue).ConfigureAwait(false);
        // A session without state is only a lock: its key goes rather than keep one key per session ever seen.
        return await ChangeSessionAsync(index, sessionId, sessionLockToken, Now(),
            record => record.State is null ? null : record with { LockToken = null, LockedUntil = 0 }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task<byte[]?> GetSessionStateAsync(string queue, string sessionId, CancellationToken cancellationToken = default)
    {
        var index = await SessionIndexAsync(queue).ConfigureAwait(false);
        return (await ReadSessionAsync(index, sessionId, cancellationToken).ConfigureAwait(false))?.Record.State;
    }

    /// <inheritdoc/>
    public async Task<bool> SetSessionStateAsync(string queue, string sessionId, string sessionLockToken, ReadOnlyMemory<byte>? state,
        CancellationToken cancellationToken = default)
    {
        var index = await SessionIndexAsync(queue).ConfigureAwait(false);
        var value = state?.ToArray();
        return await ChangeSessionAsync(index, sessionId, sessionLockToken, Now(), record => record with { State = value }, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async Task<IReadOnlyList<ReceivedQueueMessage>> PeekAsync(string queue, long fromSequenceNumber, int maxMessages, bool deadLetterQueue,
        CancellationToken cancellationToken = default)
    {
        var index = await IndexAsync(queue).ConfigureAwait(false);
        var now = Now();
        return index.Range(fromSequenceNumber, Math.Clamp(maxMessages, 1, MaxMessagesPerCall), deadLetterQueue).ConvertAll(m => ToMessage(m, now, withLock: false));
    }

    /// <inheritdoc/>
    /// <remarks>Reads the message's key (one get), so a change made on another node a moment ago is seen.</remarks>
    public async Task<ReceivedQueueMessage?> GetMessageAsync(string queue, long sequenceNumber, CancellationToken cancellationToken = default)
    {
        var index = await IndexAsync(queue).ConfigureAwait(false);
        if (index.FindBySeq(sequenceNumber) is not { } known)
        {
            return null;
        }

        var message = await RefreshAsync(index, known.Key, cancellationToken).ConfigureAwait(false);
        return message is null ? null : ToMessage(message, Now(), withLock: false);
    }

    /// <inheritdoc/>
    public async Task<QueueStatistics> GetStatisticsAsync(string queue, CancellationToken cancellationToken = default)
    {
        var index = await IndexAsync(queue).ConfigureAwait(false);
        return index.Statistics(Now());
    }

    private async ValueTask<QueueIndex> SessionIndexAsync(string queue)
    {
        var index = await IndexAsync(queue).ConfigureAwait(false);
        return index.Properties.RequiresSession ? index : throw new QueueException(QueueError.Invalid, $"The queue '{queue}' does not use sessions.");
    }

    private static bool IsHeldBy(SessionRecord record, string lockToken, long now) =>
        record.IsLocked(now) && string.Equals(record.LockToken, lockToken, StringComparison.Ordinal);

    /// <summary>
    /// The session's record as the bucket has it now (one get), or as this node knows it when that is newer: the get
    /// may be answered by a replica that lags behind, which made a release right after a renewal (or an accept right
    /// after a release) of this node fail on a revision it had itself replaced, so a device's next command waited for
    /// the lock to expire. Null when it has none.
    /// </summary>
    private static async Task<(ulong Revision, SessionRecord Record)?> ReadSessionAsync(QueueIndex index, string sessionId, CancellationToken cancellationToken)
    {
        var key = QueueKeys.SessionKey(sessionId);
        var entry = await index.Bucket.TryGetEntryAsync<byte[]>(key, cancellationToken: cancellationToken).ConfigureAwait(false);
        var known = index.KnownSession(key);
        if (!entry.Success)
        {
            if (entry.Error is not (NatsKVKeyNotFoundException or NatsKVKeyDeletedException))
            {
                throw entry.Error;
            }

            var readRevision = entry.Error is NatsKVKeyDeletedException deleted ? deleted.Revision : 0;
            if (readRevision > known.Revision)
            {
                // Released by another node: a later accept here writes over that marker.
                index.Deleted(key, readRevision);
            }

            return known.Revision > readRevision && known.Record is { } newer ? (known.Revision, newer) : null;
        }

        if (known.Revision >= entry.Value.Revision)
        {
            return known.Record is { } current ? (known.Revision, current) : null;
        }

        var record = SessionRecord.Decode(entry.Value.Value) ?? new SessionRecord();
        index.SessionWritten(key, entry.Value.Revision, record);
        return (entry.Value.Revision, record);
    }

    private static async Task<SessionLock?> TryAcceptAsync(QueueIndex index, string sessionId, long now, long until, CancellationToken cancellationToken)
    {
        var key = QueueKeys.SessionKey(sessionId);
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var current = await ReadSessionAsync(index, sessionId, cancellationToken).ConfigureAwait(false);
            if (current is { } held && held.Record.IsLocked(now))
            {
                return null;
            }

            var record = new SessionRecord { LockToken = Guid.NewGuid().ToString("N"), LockedUntil = until, State = current?.Record.State };

            // Over the record read, or over the delete marker this node wrote when it released the session last (a create
            // would read the key first, and a lagging replica could still show the lock released).
            var over = current?.Revision ?? index.KnownSession(key).Revision;
            var written = over > 0
                ? await index.Bucket.TryUpdateExclusiveAsync(key, record.Encode(), over, cancellationToken).ConfigureAwait(false)
                : await index.Bucket.TryCreateExclusiveAsync(key, record.Encode(), cancellationToken).ConfigureAwait(false);
            if (written.Success)
            {
                index.SessionWritten(key, written.Value, record);
                return new SessionLock(sessionId, record.LockToken, FromMs(until));
            }

            if (written.Error is not (NatsKVCreateException or NatsKVWrongLastRevisionException))
            {
                throw written.Error;
            }
        }

        return null;
    }

    /// <summary>
    /// Changes a session's record under its lock by compare-and-set (<paramref name="change"/> returning null deletes the
    /// key); false when the lock is not held by <paramref name="lockToken"/>.
    /// </summary>
    private static async Task<bool> ChangeSessionAsync(QueueIndex index, string sessionId, string lockToken, long now, Func<SessionRecord, SessionRecord?> change,
        CancellationToken cancellationToken)
    {
        var key = QueueKeys.SessionKey(sessionId);
        for (var attempt = 0; attempt < 3; attempt++)
        {
            if (await ReadSessionAsync(index, sessionId, cancellationToken).ConfigureAwait(false) is not { } current || !IsHeldBy(current.Record, lockToken, now))
            {
                return false;
            }

            if (change(current.Record) is { } changed)
            {
                var updated = await index.Bucket.TryUpdateExclusiveAsync(key, changed.Encode(), current.Revision, cancellationToken).ConfigureAwait(false);
                if (updated.Success)
                {
                    index.SessionWritten(key, updated.Value, changed);
                    return true;
                }

                if (updated.Error is not NatsKVWrongLastRevisionException)
                {
                    throw updated.Error;
                }
            }
            else
            {
                var deleted = await index.Bucket.TryDeleteExclusiveAsync(key, current.Revision, cancellationToken: cancellationToken).ConfigureAwait(false);
                if (deleted.Success)
                {
                    index.Deleted(key, deleted.Value);
                    return true;
                }

                if (deleted.Error is not NatsKVWrongLastRevisionException)
                {
                    throw deleted.Error;
                }
            }
        }

        return false;
    }
}
