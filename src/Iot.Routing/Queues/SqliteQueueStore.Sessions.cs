using Microsoft.Data.Sqlite;

namespace Iot.Routing.Queues;

internal sealed partial class SqliteQueueStore
{
    /// <inheritdoc/>
    public Task<SessionLock?> AcceptSessionAsync(string queue, string? sessionId, CancellationToken cancellationToken = default)
    {
        var properties = SessionQueue(queue);
        var now = Now();
        var until = now + (long)properties.LockDuration.TotalMilliseconds;
        return _store.ExecuteAsync(connection =>
        {
            var session = sessionId ?? Scalar(connection, """
                SELECT m.session_id FROM queue_messages m
                WHERE m.queue = $q AND m.state = 0 AND m.visible_at <= $n AND (m.locked_until IS NULL OR m.locked_until <= $n)
                  AND NOT EXISTS (SELECT 1 FROM queue_sessions s WHERE s.queue = $q AND s.session_id = m.session_id AND s.locked_until > $n)
                ORDER BY m.seq LIMIT 1
                """, ("$q", queue), ("$n", now)) as string;
            if (session is null)
            {
                return null;
            }

            var token = Guid.NewGuid().ToString("N");
            var locked = NonQuery(connection, """
                INSERT INTO queue_sessions(queue, session_id, lock_token, locked_until) VALUES($q, $s, $t, $u)
                ON CONFLICT(queue, session_id) DO UPDATE SET lock_token = $t, locked_until = $u
                WHERE queue_sessions.lock_token IS NULL OR queue_sessions.locked_until <= $n
                """, ("$q", queue), ("$s", session), ("$t", token), ("$u", until), ("$n", now)) > 0;
            return locked ? new SessionLock(session, token, FromMs(until)) : null;
        });
    }

    /// <inheritdoc/>
    public async Task<DateTimeOffset?> RenewSessionLockAsync(string queue, string sessionId, string sessionLockToken, CancellationToken cancellationToken = default)
    {
        var properties = SessionQueue(queue);
        var now = Now();
        var until = now + (long)properties.LockDuration.TotalMilliseconds;
        var renewed = await _store.ExecuteAsync(connection => NonQuery(connection,
            "UPDATE queue_sessions SET locked_until = $u WHERE queue = $q AND session_id = $s AND lock_token = $t AND locked_until > $n",
            ("$u", until), ("$q", queue), ("$s", sessionId), ("$t", sessionLockToken), ("$n", now)) > 0).ConfigureAwait(false);
        return renewed ? FromMs(until) : null;
    }

    /// <inheritdoc/>
    public Task<bool> ReleaseSessionAsync(string queue, string sessionId, string sessionLockToken, CancellationToken cancellationToken = default)
    {
        SessionQueue(queue);
        var now = Now();
        return _store.ExecuteAsync(connection =>
        {
            if (!HoldsSession(connection, queue, sessionId, sessionLockToken, now))
            {
                return false;
            }

            // A session row without state is only a lock: drop it rather than keep one row per session ever seen.
            NonQuery(connection, "DELETE FROM queue_sessions WHERE queue = $q AND session_id = $s AND state IS NULL", ("$q", queue), ("$s", sessionId));
            NonQuery(connection, "UPDATE queue_sessions SET lock_token = NULL, locked_until = NULL WHERE queue = $q AND session_id = $s", ("$q", queue), ("$s", sessionId));
            return true;
        });
    }

    /// <inheritdoc/>
    public Task<byte[]?> GetSessionStateAsync(string queue, string sessionId, CancellationToken cancellationToken = default)
    {
        SessionQueue(queue);
        return _store.ExecuteAsync(connection =>
            Scalar(connection, "SELECT state FROM queue_sessions WHERE queue = $q AND session_id = $s", ("$q", queue), ("$s", sessionId)) as byte[]);
    }

    /// <inheritdoc/>
    public Task<bool> SetSessionStateAsync(string queue, string sessionId, string sessionLockToken, ReadOnlyMemory<byte>? state,
        CancellationToken cancellationToken = default)
    {
        SessionQueue(queue);
        var now = Now();
        var value = state?.ToArray();
        return _store.ExecuteAsync(connection =>
            HoldsSession(connection, queue, sessionId, sessionLockToken, now)
            && NonQuery(connection, "UPDATE queue_sessions SET state = $v WHERE queue = $q AND session_id = $s",
                ("$v", value), ("$q", queue), ("$s", sessionId)) > 0);
    }

    private QueueProperties SessionQueue(string queue)
    {
        var properties = GetQueue(queue);
        return properties.RequiresSession ? properties
            : throw new QueueException(QueueError.Invalid, $"The queue '{queue}' does not use sessions.");
    }

    private static bool HoldsSession(SqliteConnection connection, string queue, string sessionId, string lockToken, long now) =>
        Scalar(connection, "SELECT 1 FROM queue_sessions WHERE queue = $q AND session_id = $s AND lock_token = $t AND locked_until > $n",
            ("$q", queue), ("$s", sessionId), ("$t", lockToken), ("$n", now)) is not null;
}
