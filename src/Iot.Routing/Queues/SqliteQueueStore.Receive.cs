using Microsoft.Data.Sqlite;

namespace Iot.Routing.Queues;

internal sealed partial class SqliteQueueStore
{
    private const int Active = 0;
    private const int Deferred = 2;
    private const int DeadLettered = 3;

    /// <inheritdoc/>
    public Task<IReadOnlyList<ReceivedQueueMessage>> ReceiveAsync(string queue, ReceiveRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var properties = GetQueue(queue);
        var max = Math.Clamp(request.MaxMessages, 1, MaxMessagesPerCall);
        var sessionId = properties.RequiresSession && !request.DeadLetterQueue ? request.SessionId : null;
        if (properties.RequiresSession && !request.DeadLetterQueue && (string.IsNullOrEmpty(sessionId) || string.IsNullOrEmpty(request.SessionLockToken)))
        {
            throw new QueueException(QueueError.SessionRequired, $"The queue '{queue}' requires sessions: accept a session and receive with its sessionId and lock token.");
        }

        var now = Now();
        var lockDuration = (long)properties.LockDuration.TotalMilliseconds;
        return _store.ExecuteAsync<IReadOnlyList<ReceivedQueueMessage>>(connection =>
        {
            if (sessionId is not null && !HoldsSession(connection, queue, sessionId, request.SessionLockToken!, now))
            {
                throw new QueueException(QueueError.SessionLockLost, $"The lock of session '{sessionId}' is not held (expired, released or taken by another receiver).");
            }

            var received = new List<ReceivedQueueMessage>(max);
            while (received.Count < max)
            {
                var candidates = request.DeadLetterQueue
                    ? Query(connection, $"SELECT {Columns} FROM queue_messages WHERE queue = $q AND state = 3 AND (locked_until IS NULL OR locked_until <= $n) ORDER BY seq LIMIT $m",
                        ("$q", queue), ("$n", now), ("$m", max - received.Count))
                    : Query(connection, $"""
                        SELECT {Columns} FROM queue_messages
                        WHERE queue = $q AND state = 0 AND session_id IS $s AND visible_at <= $n AND (locked_until IS NULL OR locked_until <= $n)
                        ORDER BY priority DESC, seq LIMIT $m
                        """, ("$q", queue), ("$s", sessionId), ("$n", now), ("$m", max - received.Count));
                if (candidates.Count == 0)
                {
                    break;
                }

                foreach (var row in candidates)
                {
                    if (!request.DeadLetterQueue && row.ExpiresAt <= now)
                    {
                        Expire(connection, properties, row.Seq);
                        continue;
                    }

                    if (!request.DeadLetterQueue && row.DeliveryCount >= properties.MaxDeliveryCount)
                    {
                        MoveToDeadLetter(connection, row.Seq, QueueDeadLetterReasons.MaxDeliveryCountExceeded,
                            $"The lock expired on delivery {row.DeliveryCount} of at most {properties.MaxDeliveryCount}.");
                        continue;
                    }

                    row.DeliveryCount++;
                    if (request.Mode == ReceiveMode.ReceiveAndDelete)
                    {
                        NonQuery(connection, "DELETE FROM queue_messages WHERE seq = $s", ("$s", row.Seq));
                        row.LockToken = null;
                        row.LockedUntil = null;
                    }
                    else
                    {
                        Lock(connection, row, now + lockDuration);
                    }

                    received.Add(row.ToMessage(now, withLock: true));
                }
            }

            return received;
        });
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<ReceivedQueueMessage>> ReceiveDeferredAsync(string queue, IReadOnlyList<long> sequenceNumbers, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sequenceNumbers);
        var properties = GetQueue(queue);
        var now = Now();
        var lockDuration = (long)properties.LockDuration.TotalMilliseconds;
        return _store.ExecuteAsync<IReadOnlyList<ReceivedQueueMessage>>(connection =>
        {
            var received = new List<ReceivedQueueMessage>();
            foreach (var sequenceNumber in sequenceNumbers.Take(MaxMessagesPerCall))
            {
                var rows = Query(connection, $"SELECT {Columns} FROM queue_messages WHERE seq = $s AND queue = $q AND state = 2 AND (locked_until IS NULL OR locked_until <= $n)",
                    ("$s", sequenceNumber), ("$q", queue), ("$n", now));
                foreach (var row in rows)
                {
                    row.DeliveryCount++;
                    Lock(connection, row, now + lockDuration);
                    received.Add(row.ToMessage(now, withLock: true));
                }
            }

            return received;
        });
    }

    /// <inheritdoc/>
    public Task<SettleResult> CompleteAsync(string queue, string lockToken, CancellationToken cancellationToken = default) =>
        Settle(queue, lockToken, static (connection, _, seq, _, _) =>
        {
            NonQuery(connection, "DELETE FROM queue_messages WHERE seq = $s", ("$s", seq));
            return SettleResult.Success;
        });

    /// <inheritdoc/>
    public Task<SettleResult> AbandonAsync(string queue, string lockToken, CancellationToken cancellationToken = default) =>
        Settle(queue, lockToken, static (connection, properties, seq, state, deliveryCount) =>
        {
            if (state == Active && deliveryCount >= properties.MaxDeliveryCount)
            {
                MoveToDeadLetter(connection, seq, QueueDeadLetterReasons.MaxDeliveryCountExceeded,
                    $"Abandoned on delivery {deliveryCount} of at most {properties.MaxDeliveryCount}.");
                return SettleResult.DeadLettered;
            }

            NonQuery(connection, "UPDATE queue_messages SET lock_token = NULL, locked_until = NULL WHERE seq = $s", ("$s", seq));
            return SettleResult.Success;
        });

    /// <inheritdoc/>
    public Task<SettleResult> DeadLetterAsync(string queue, string lockToken, string? reason, string? description, CancellationToken cancellationToken = default) =>
        Settle(queue, lockToken, (connection, _, seq, _, _) =>
        {
            MoveToDeadLetter(connection, seq, reason, description);
            return SettleResult.Success;
        });

    /// <inheritdoc/>
    public Task<SettleResult> DeferAsync(string queue, string lockToken, CancellationToken cancellationToken = default) =>
        Settle(queue, lockToken, static (connection, _, seq, state, _) =>
        {
            if (state == DeadLettered)
            {
                throw new QueueException(QueueError.Invalid, "A dead-lettered message cannot be deferred.");
            }

            NonQuery(connection, "UPDATE queue_messages SET state = 2, lock_token = NULL, locked_until = NULL WHERE seq = $s", ("$s", seq));
            return SettleResult.Success;
        });

    /// <inheritdoc/>
    public async Task<DateTimeOffset?> RenewLockAsync(string queue, string lockToken, CancellationToken cancellationToken = default)
    {
        var properties = GetQueue(queue);
        var now = Now();
        var until = now + (long)properties.LockDuration.TotalMilliseconds;
        var renewed = await _store.ExecuteAsync(connection => NonQuery(connection,
            "UPDATE queue_messages SET locked_until = $u WHERE lock_token = $t AND queue = $q AND locked_until > $n",
            ("$u", until), ("$t", lockToken ?? ""), ("$q", queue), ("$n", now)) > 0).ConfigureAwait(false);
        return renewed ? FromMs(until) : null;
    }

    private Task<SettleResult> Settle(string queue, string lockToken, Func<SqliteConnection, QueueProperties, long, int, int, SettleResult> settle)
    {
        var properties = GetQueue(queue);
        var now = Now();
        return _store.ExecuteAsync(connection =>
        {
            var command = Command(connection, "SELECT seq, state, delivery_count FROM queue_messages WHERE lock_token = $t AND queue = $q AND locked_until > $n",
                ("$t", lockToken ?? ""), ("$q", queue), ("$n", now));
            long seq;
            int state;
            int deliveryCount;
            using (var reader = command.ExecuteReader())
            {
                if (!reader.Read())
                {
                    return SettleResult.LockLost;
                }

                (seq, state, deliveryCount) = (reader.GetInt64(0), reader.GetInt32(1), reader.GetInt32(2));
            }

            return settle(connection, properties, seq, state, deliveryCount);
        });
    }

    private static void Lock(SqliteConnection connection, MessageRow row, long lockedUntil)
    {
        row.LockToken = Guid.NewGuid().ToString("N");
        row.LockedUntil = lockedUntil;
        NonQuery(connection, "UPDATE queue_messages SET lock_token = $t, locked_until = $u, delivery_count = $d WHERE seq = $s",
            ("$t", row.LockToken), ("$u", lockedUntil), ("$d", row.DeliveryCount), ("$s", row.Seq));
    }

    private static void Expire(SqliteConnection connection, QueueProperties properties, long seq)
    {
        if (properties.DeadLetteringOnMessageExpiration)
        {
            MoveToDeadLetter(connection, seq, QueueDeadLetterReasons.TtlExpired, "The message expired before it was completed.");
        }
        else
        {
            NonQuery(connection, "DELETE FROM queue_messages WHERE seq = $s", ("$s", seq));
        }
    }

    private static void MoveToDeadLetter(SqliteConnection connection, long seq, string? reason, string? description) =>
        NonQuery(connection, "UPDATE queue_messages SET state = 3, lock_token = NULL, locked_until = NULL, dl_reason = $r, dl_description = $d WHERE seq = $s",
            ("$r", reason), ("$d", description), ("$s", seq));
}
