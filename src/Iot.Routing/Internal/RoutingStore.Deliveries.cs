using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Iot.Routing.Internal;

/// <summary>A delivery to record: one event for one subscription.</summary>
internal readonly record struct PendingDelivery(string Subscription, string EventId, ReadOnlyMemory<byte> Event, long EnqueuedAt, long ExpiresAt);

/// <summary>A stored delivery (pending, locked or dead-lettered). Times are Unix milliseconds.</summary>
internal sealed class DeliveryRecord
{
    public long Seq { get; init; }

    public required string Subscription { get; init; }

    public required string EventId { get; init; }

    public required byte[] Event { get; init; }

    public long EnqueuedAt { get; init; }

    public long ExpiresAt { get; init; }

    public int Attempts { get; set; }

    public long NextAttemptAt { get; init; }

    public string? LockToken { get; set; }

    public long? LockedUntil { get; set; }

    public string? Reason { get; init; }

    public string? LastOutcome { get; init; }

    public long? DeadLetteredAt { get; init; }
}

/// <summary>Outcome of a settlement by lock tokens.</summary>
internal sealed record LockTokenResult(IReadOnlyList<string> Succeeded, IReadOnlyList<(string LockToken, string Error)> Failed);

internal sealed partial class RoutingStore
{
    private const string Columns = "seq, subscription, event_id, event, enqueued_at, expires_at, attempts, next_attempt_at, lock_token, locked_until, reason, last_outcome, dead_lettered_at";

    /// <summary>
    /// Records deliveries; completes when they are durable. A delivery for a subscription that holds
    /// <see cref="MaxPendingEvents"/> pending events or would exceed <see cref="MaxPendingBytes"/> is not recorded: the
    /// result lists those subscriptions (null when every delivery was recorded).
    /// </summary>
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
            if (!TryReservePending(delivery.Subscription, delivery.Event.Length))
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

    /// <summary>Pending, unlocked deliveries of a subscription that are due at <paramref name="now"/>, oldest first.</summary>
    public Task<List<DeliveryRecord>> GetDueAsync(string subscription, long now, int max) => ExecuteAsync(connection =>
        Query(connection, $"SELECT {Columns} FROM deliveries WHERE subscription = $s AND dead_lettered = 0 AND next_attempt_at <= $n AND (lock_token IS NULL OR locked_until <= $n) ORDER BY seq LIMIT $m",
            ("$s", subscription), ("$n", now), ("$m", max)));

    /// <summary>The earliest next attempt time among the pending deliveries of a subscription; null when none.</summary>
    public Task<long?> GetNextDueAsync(string subscription) => ExecuteAsync(connection =>
    {
        var command = SqliteStatements.Get(connection, "SELECT MIN(next_attempt_at) FROM deliveries WHERE subscription = $s AND dead_lettered = 0");
        command.Parameters.AddWithValue("$s", subscription);
        return command.ExecuteScalar() is long value ? value : (long?)null;
    });

    /// <summary>Removes pending deliveries (delivered, or dropped without dead-lettering).</summary>
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
                ReleasePending(delivery.Subscription, delivery.Event.Length);
                deleted++;
            }
        }

        return deleted;
    });

    /// <summary>Records a failed attempt: new attempt count and next attempt time per delivery.</summary>
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

    /// <summary>
    /// Moves pending deliveries to the dead letters with a reason, their attempt count (plus <paramref name="extraAttempts"/>)
    /// and the last outcome.
    /// </summary>
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

    /// <summary>Dead letters of a subscription, oldest first (by the time they were dead-lettered, the order they are evicted in).</summary>
    public Task<List<DeliveryRecord>> ListDeadLettersAsync(string subscription, int max) => ExecuteAsync(connection =>
        Query(connection, $"SELECT {Columns} FROM deliveries WHERE subscription = $s AND dead_lettered = 1 ORDER BY dead_lettered_at, seq LIMIT $m",
            ("$s", subscription), ("$m", max)));

    /// <summary>Puts dead letters back as new pending deliveries (all, or those whose event id is listed).</summary>
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
            RecountPending(connection, subscription);
            return redelivered;
        });

    /// <summary>Pending and dead-lettered counts of a subscription.</summary>
    public Task<(long Pending, long DeadLettered)> CountAsync(string subscription) => ExecuteAsync(connection =>
    {
        var command = SqliteStatements.Get(connection, "SELECT COALESCE(SUM(dead_lettered = 0), 0), COALESCE(SUM(dead_lettered = 1), 0) FROM deliveries WHERE subscription = $s");
        command.Parameters.AddWithValue("$s", subscription);
        using var reader = command.ExecuteReader();
        reader.Read();
        return (reader.GetInt64(0), reader.GetInt64(1));
    });

    /// <summary>Saves a route or subscription definition (<paramref name="table"/> is <c>routes</c> or <c>subscriptions</c>).</summary>
    public Task<int> SaveDefinitionAsync(string table, string name, string definition) => ExecuteAsync(connection =>
        NonQuery(connection, $"INSERT INTO {CheckTable(table)}(name, definition) VALUES($n, $d) ON CONFLICT(name) DO UPDATE SET definition = excluded.definition",
            ("$n", name), ("$d", definition)));

    /// <summary>Deletes a definition; deleting a subscription deletes its deliveries and dead letters too.</summary>
    public Task<int> DeleteDefinitionAsync(string table, string name) => ExecuteAsync(connection =>
    {
        int deleted = NonQuery(connection, $"DELETE FROM {CheckTable(table)} WHERE name = $n", ("$n", name));
        if (table == "subscriptions")
        {
            NonQuery(connection, "DELETE FROM deliveries WHERE subscription = $n", ("$n", name));
            ForgetPending(name);
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

        ReleasePending(subscription, bytes);
        CountDeadLetter(connection, subscription);
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
