using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Iot.Routing.Internal;

internal sealed partial class SqliteRoutingStore
{
    private const string Columns = "seq, subscription, event_id, event, enqueued_at, expires_at, attempts, next_attempt_at, lock_token, locked_until, reason, last_outcome, dead_lettered_at";

    /// <inheritdoc/>
    public Task<List<string>?> EnqueueAsync(IReadOnlyList<PendingDelivery> deliveries) => ExecuteAsync(connection =>
    {
        var command = SqliteStatements.Get(connection, "INSERT INTO deliveries(subscription, event_id, event, enqueued_at, expires_at, next_attempt_at) VALUES($s, $i, $e, $t, $x, $t)");
        var subscription = command.Parameters.Add("$s", SqliteType.Text);
        var id = command.Parameters.Add("$i", SqliteType.Text);
        var body = command.Parameters.Add("$e", SqliteType.Blob);
        var enqueued = command.Parameters.Add("$t", SqliteType.Integer);
        var expires = command.Parameters.Add("$x", SqliteType.Integer);
        List<string>? full = null;
        foreach (var delivery in deliveries)
        {
            if (!_quota.TryReservePending(delivery.Subscription, delivery.Event.Length))
            {
                (full ??= []).Add(delivery.Subscription);
                continue;
            }

            subscription.Value = delivery.Subscription;
            id.Value = delivery.EventId;
            body.Value = delivery.Event.ToArray();
            enqueued.Value = delivery.EnqueuedAt;
            expires.Value = delivery.ExpiresAt;
            command.ExecuteNonQuery();
        }

        return full;
    });

    /// <inheritdoc/>
    public Task<List<DeliveryRecord>> GetDueAsync(string subscription, long now, int max) => ExecuteAsync(connection =>
        Query(connection, $"SELECT {Columns} FROM deliveries WHERE subscription = $s AND dead_lettered = 0 AND next_attempt_at <= $n AND (lock_token IS NULL OR locked_until <= $n) ORDER BY seq LIMIT $m",
            ("$s", subscription), ("$n", now), ("$m", max)));

    /// <inheritdoc/>
    public Task<long?> GetNextDueAsync(string subscription) => ExecuteAsync(connection =>
    {
        var command = SqliteStatements.Get(connection, "SELECT MIN(next_attempt_at) FROM deliveries WHERE subscription = $s AND dead_lettered = 0");
        command.Parameters.AddWithValue("$s", subscription);
        return command.ExecuteScalar() is long value ? value : (long?)null;
    });

    /// <inheritdoc/>
    /// <remarks>One process runs one delivery loop per subscription: there is no one to fence, so nothing is written.</remarks>
    public Task<List<DeliveryRecord>> ClaimAsync(IReadOnlyList<DeliveryRecord> deliveries, long now, long claimDuration) =>
        Task.FromResult<List<DeliveryRecord>>([.. deliveries]);

    /// <inheritdoc/>
    public Task<int> DeleteAsync(IReadOnlyCollection<DeliveryRecord> deliveries) => ExecuteAsync(connection =>
    {
        // One prepared statement run per row (in the batch's transaction), not SQL text that differs with every list.
        var command = SqliteStatements.Get(connection, "DELETE FROM deliveries WHERE seq = $q AND dead_lettered = 0");
        var seq = command.Parameters.Add("$q", SqliteType.Integer);
        var deleted = 0;
        foreach (var delivery in deliveries)
        {
            seq.Value = delivery.Seq;
            if (command.ExecuteNonQuery() == 1)
            {
                _quota.ReleasePending(delivery.Subscription, delivery.Event.Length);
                deleted++;
            }
        }

        return deleted;
    });

    /// <inheritdoc/>
    public Task<int> RecordFailuresAsync(IReadOnlyList<(long Seq, int Attempts, long NextAttemptAt)> failures, string outcome) =>
        ExecuteAsync(connection =>
        {
            var command = SqliteStatements.Get(connection, "UPDATE deliveries SET attempts = $a, next_attempt_at = $n, last_outcome = $o WHERE seq = $q");
            var attempts = command.Parameters.Add("$a", SqliteType.Integer);
            var next = command.Parameters.Add("$n", SqliteType.Integer);
            command.Parameters.AddWithValue("$o", outcome);
            var seq = command.Parameters.Add("$q", SqliteType.Integer);
            foreach (var failure in failures)
            {
                attempts.Value = failure.Attempts;
                next.Value = failure.NextAttemptAt;
                seq.Value = failure.Seq;
                command.ExecuteNonQuery();
            }

            return failures.Count;
        });

    /// <inheritdoc/>
    public Task<int> DeadLetterAsync(IReadOnlyList<DeliveryRecord> deliveries, int extraAttempts, string reason, string? outcome, long now) =>
        ExecuteAsync(connection =>
        {
            int moved = 0;
            foreach (var delivery in deliveries)
            {
                moved += DeadLetter(connection, delivery.Subscription, delivery.Seq, delivery.Attempts + extraAttempts, delivery.Event.Length, reason, outcome, now);
            }

            return moved;
        });

    /// <inheritdoc/>
    public Task<List<DeliveryRecord>> ListDeadLettersAsync(string subscription, int max) => ExecuteAsync(connection =>
        Query(connection, $"SELECT {Columns} FROM deliveries WHERE subscription = $s AND dead_lettered = 1 ORDER BY dead_lettered_at, seq LIMIT $m",
            ("$s", subscription), ("$m", max)));

    /// <inheritdoc/>
    public Task<int> RedeliverAsync(string subscription, IReadOnlyCollection<string>? eventIds, long now, long expiresAt) =>
        ExecuteAsync(connection =>
        {
            using var command = connection.CreateCommand();
            var filter = new StringBuilder();
            if (eventIds is { Count: > 0 })
            {
                filter.Append(" AND event_id IN (");
                int i = 0;
                foreach (var id in eventIds)
                {
                    var name = "$e" + i.ToString(CultureInfo.InvariantCulture);
                    filter.Append(i++ == 0 ? name : "," + name);
                    command.Parameters.AddWithValue(name, id);
                }

                filter.Append(')');
            }

            command.CommandText = "UPDATE deliveries SET dead_lettered = 0, attempts = 0, next_attempt_at = $n, enqueued_at = $n, expires_at = $x, "
                + "lock_token = NULL, locked_until = NULL, reason = NULL, dead_lettered_at = NULL WHERE subscription = $s AND dead_lettered = 1" + filter;
            command.Parameters.AddWithValue("$n", now);
            command.Parameters.AddWithValue("$x", expiresAt);
            command.Parameters.AddWithValue("$s", subscription);
            int redelivered = command.ExecuteNonQuery();
            _quota.RecountPending(connection, subscription);
            return redelivered;
        });

    /// <inheritdoc/>
    public Task<(long Pending, long DeadLettered)> CountAsync(string subscription) => ExecuteAsync(connection =>
    {
        var command = SqliteStatements.Get(connection, "SELECT COALESCE(SUM(dead_lettered = 0), 0), COALESCE(SUM(dead_lettered = 1), 0) FROM deliveries WHERE subscription = $s");
        command.Parameters.AddWithValue("$s", subscription);
        using var reader = command.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(0), reader.GetInt64(1));
    });

    /// <inheritdoc/>
    public Task<int> SaveDefinitionAsync(string table, string name, string definition) => ExecuteAsync(connection =>
        NonQuery(connection, $"INSERT INTO {CheckTable(table)}(name, definition) VALUES($n, $d) ON CONFLICT(name) DO UPDATE SET definition = excluded.definition",
            ("$n", name), ("$d", definition)));

    /// <inheritdoc/>
    public Task<int> DeleteDefinitionAsync(string table, string name) => ExecuteAsync(connection =>
    {
        int deleted = NonQuery(connection, $"DELETE FROM {CheckTable(table)} WHERE name = $n", ("$n", name));
        if (table == "subscriptions")
        {
            NonQuery(connection, "DELETE FROM deliveries WHERE subscription = $n", ("$n", name));
            _quota.ForgetPending(name);
        }

        return deleted;
    });

    private static string CheckTable(string table) =>
        table is "routes" or "subscriptions" ? table : throw new ArgumentOutOfRangeException(nameof(table));

    // One pending delivery to the dead letters; 1 when it was pending (and so leaves the quota), else 0. Beyond
    // MaxDeadLetteredEvents the subscription's oldest dead letters are deleted in the same operation.
    private int DeadLetter(SqliteConnection connection, string subscription, long seq, int attempts, int bytes, string reason, string? outcome, long now)
    {
        var command = SqliteStatements.Get(connection, "UPDATE deliveries SET dead_lettered = 1, attempts = $a, reason = $r, last_outcome = COALESCE($o, last_outcome), "
            + "dead_lettered_at = $n, lock_token = NULL, locked_until = NULL WHERE seq = $q AND dead_lettered = 0");
        command.Parameters.AddWithValue("$a", attempts);
        command.Parameters.AddWithValue("$r", reason);
        command.Parameters.AddWithValue("$o", (object?)outcome ?? DBNull.Value);
        command.Parameters.AddWithValue("$n", now);
        command.Parameters.AddWithValue("$q", seq);
        if (command.ExecuteNonQuery() != 1)
        {
            return 0;
        }

        _quota.ReleasePending(subscription, bytes);
        _quota.CountDeadLetter(connection, subscription);
        return 1;
    }

    private static int NonQuery(SqliteConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        var command = SqliteStatements.Get(connection, sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return command.ExecuteNonQuery();
    }

    private static List<DeliveryRecord> Query(SqliteConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        var command = SqliteStatements.Get(connection, sql);
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        using var reader = command.ExecuteReader();
        var rows = new List<DeliveryRecord>();
        while (reader.Read())
        {
            rows.Add(new DeliveryRecord
            {
                Seq = reader.GetInt64(0),
                Subscription = reader.GetString(1),
                EventId = reader.GetString(2),
                Event = (byte[])reader.GetValue(3),
                EnqueuedAt = reader.GetInt64(4),
                ExpiresAt = reader.GetInt64(5),
                Attempts = reader.GetInt32(6),
                NextAttemptAt = reader.GetInt64(7),
                LockToken = reader.IsDBNull(8) ? null : reader.GetString(8),
                LockedUntil = reader.IsDBNull(9) ? null : reader.GetInt64(9),
                Reason = reader.IsDBNull(10) ? null : reader.GetString(10),
                LastOutcome = reader.IsDBNull(11) ? null : reader.GetString(11),
                DeadLetteredAt = reader.IsDBNull(12) ? null : reader.GetInt64(12),
            });
        }

        return rows;
    }
}
