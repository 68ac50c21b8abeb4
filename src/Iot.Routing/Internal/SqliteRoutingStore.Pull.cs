using Microsoft.Data.Sqlite;

namespace Iot.Routing.Internal;

internal sealed partial class SqliteRoutingStore
{
    /// <inheritdoc/>
    public Task<List<DeliveryRecord>> ReceiveAsync(string subscription, int max, long now, long lockDuration, int maxDeliveryCount, bool deadLetter) =>
        ExecuteAsync(connection =>
        {
            var locked = new List<DeliveryRecord>(max);
            while (locked.Count < max)
            {
                var candidates = Query(connection,
                    $"SELECT {Columns} FROM deliveries WHERE subscription = $s AND dead_lettered = 0 AND next_attempt_at <= $n AND (lock_token IS NULL OR locked_until <= $n) ORDER BY seq LIMIT $m",
                    ("$s", subscription), ("$n", now), ("$m", max - locked.Count));
                if (candidates.Count == 0)
                {
                    break;
                }

                foreach (var row in candidates)
                {
                    string? reason = row.ExpiresAt <= now ? DeadLetterReasons.TimeToLiveExceeded
                        : row.Attempts >= maxDeliveryCount ? DeadLetterReasons.MaxDeliveryCountExceeded
                        : null;
                    if (reason is not null)
                    {
                        var outcome = row.LockToken is null ? null : "lock expired";
                        if (deadLetter)
                        {
                            DeadLetter(connection, subscription, row.Seq, row.Attempts, row.Event.Length, reason, outcome, now);
                        }
                        else
                        {
                            Drop(connection, subscription, row.Seq, row.Event.Length);
                        }

                        continue;
                    }

                    row.LockToken = Guid.NewGuid().ToString("N");
                    row.LockedUntil = now + lockDuration;
                    row.Attempts++;
                    NonQuery(connection, "UPDATE deliveries SET lock_token = $t, locked_until = $u, attempts = $a, last_outcome = 'received' WHERE seq = $q",
                        ("$t", row.LockToken), ("$u", row.LockedUntil.Value), ("$a", row.Attempts), ("$q", row.Seq));
                    locked.Add(row);
                }
            }

            return locked;
        });

    /// <inheritdoc/>
    public Task<LockTokenResult> AcknowledgeAsync(string subscription, IReadOnlyList<string> lockTokens, long now) =>
        Settle(subscription, lockTokens, now, (connection, seq, _, bytes) => Drop(connection, subscription, seq, bytes));

    /// <inheritdoc/>
    public Task<LockTokenResult> ReleaseAsync(string subscription, IReadOnlyList<string> lockTokens, long now, long delay) =>
        Settle(subscription, lockTokens, now, (connection, seq, _, _) =>
            NonQuery(connection, "UPDATE deliveries SET lock_token = NULL, locked_until = NULL, next_attempt_at = $n, last_outcome = 'released' WHERE seq = $q",
                ("$n", now + delay), ("$q", seq)));

    /// <inheritdoc/>
    public Task<LockTokenResult> RejectAsync(string subscription, IReadOnlyList<string> lockTokens, long now, bool deadLetter) =>
        Settle(subscription, lockTokens, now, (connection, seq, attempts, bytes) =>
        {
            if (deadLetter)
            {
                DeadLetter(connection, subscription, seq, attempts, bytes, DeadLetterReasons.Rejected, "rejected by the receiver", now);
            }
            else
            {
                Drop(connection, subscription, seq, bytes);
            }
        });

    /// <inheritdoc/>
    public Task<LockTokenResult> RenewLockAsync(string subscription, IReadOnlyList<string> lockTokens, long now, long lockDuration) =>
        Settle(subscription, lockTokens, now, (connection, seq, _, _) =>
            NonQuery(connection, "UPDATE deliveries SET locked_until = $u WHERE seq = $q", ("$u", now + lockDuration), ("$q", seq)));

    // Deletes one pending delivery (acknowledged, or given up without dead-lettering).
    private void Drop(SqliteConnection connection, string subscription, long seq, int bytes)
    {
        if (NonQuery(connection, "DELETE FROM deliveries WHERE seq = $q AND dead_lettered = 0", ("$q", seq)) == 1)
        {
            _quota.ReleasePending(subscription, bytes);
        }
    }

    private Task<LockTokenResult> Settle(string subscription, IReadOnlyList<string> lockTokens, long now, Action<SqliteConnection, long, int, int> settle) =>
        ExecuteAsync(connection =>
        {
            var succeeded = new List<string>();
            var failed = new List<(string, string)>();
            var command = SqliteStatements.Get(connection, "SELECT seq, locked_until, attempts, length(event) FROM deliveries WHERE lock_token = $t AND subscription = $s AND dead_lettered = 0");
            var token = command.Parameters.Add("$t", SqliteType.Text);
            command.Parameters.AddWithValue("$s", subscription);
            foreach (var lockToken in lockTokens)
            {
                token.Value = lockToken ?? "";
                long seq;
                long lockedUntil;
                int attempts;
                int bytes;
                using (var reader = command.ExecuteReader())
                {
                    if (!reader.Read())
                    {
                        failed.Add((lockToken ?? "", "The lock token is unknown, or the event was settled already."));
                        continue;
                    }

                    seq = reader.GetInt64(0);
                    lockedUntil = reader.GetInt64(1);
                    attempts = reader.GetInt32(2);
                    bytes = reader.GetInt32(3);
                }

                if (lockedUntil <= now)
                {
                    failed.Add((lockToken!, "The lock expired; the event is available to receivers again."));
                    continue;
                }

                settle(connection, seq, attempts, bytes);
                succeeded.Add(lockToken!);
            }

            return new LockTokenResult(succeeded, failed);
        });
}
