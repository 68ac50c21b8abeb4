using Microsoft.Data.Sqlite;

namespace Iot.Routing.Internal;

/// <summary>
/// The pending-delivery quota: what each subscription holds that is neither delivered nor dead-lettered (count and
/// bytes of the encoded events), kept in memory next to the rows it counts; and the dead-letter cap: how many dead
/// letters each subscription holds, the oldest deleted when a new one would exceed it.
/// </summary>
/// <remarks>
/// The counts are read and changed only inside operations, that is on the store's loop, by the same code that inserts,
/// deletes or dead-letters the rows, so they need no lock and cannot race. An operation that fails (its savepoint
/// rolled back) or a commit that fails leaves them unknown: the loop then counts again from the table before the next
/// batch, as it does once at start (<see cref="IGroupCommitObserver"/>). Evictions are reported only after their
/// commit, before the callers resume.
/// </remarks>
internal sealed class SubscriptionQuota : IGroupCommitObserver
{
    private readonly Dictionary<string, PendingCount> _pending = new(StringComparer.Ordinal);
    private readonly List<(string Subscription, int Count)> _evictions = [];
    private readonly Action<string, int>? _deadLettersEvicted;
    private bool _pendingStale = true;

    /// <summary>The quota with its limits; <paramref name="deadLettersEvicted"/> is told of evictions after their commit.</summary>
    public SubscriptionQuota(DeliveryLimits limits, Action<string, int>? deadLettersEvicted)
    {
        Limits = limits;
        _deadLettersEvicted = deadLettersEvicted;
    }

    /// <summary>
    /// Pending events and bytes one subscription may hold (a delivery beyond either is not recorded), and its dead
    /// letters (dead-lettering beyond the cap deletes that subscription's oldest).
    /// </summary>
    public DeliveryLimits Limits { get; }

    /// <summary>The pending count and bytes of a subscription as the quota sees them (on the loop only).</summary>
    public (long Events, long Bytes) Get(string subscription) =>
        _pending.TryGetValue(subscription, out var count) ? (count.Events, count.Bytes) : (0L, 0L);

    /// <inheritdoc/>
    public void BeforeBatch(SqliteConnection connection)
    {
        if (_pendingStale)
        {
            RecountPending(connection);
            _pendingStale = false;
        }
    }

    /// <inheritdoc/>
    public int Mark() => _evictions.Count;

    /// <inheritdoc/>
    public void RolledBack(int mark)
    {
        _evictions.RemoveRange(mark, _evictions.Count - mark);
        _pendingStale = true;
    }

    /// <inheritdoc/>
    public void Completed(bool committed)
    {
        ReportEvictions(committed);
        _pendingStale |= !committed;
    }

    /// <summary>True when the subscription has room for one more event of this size; counts it when so.</summary>
    public bool TryReservePending(string subscription, int bytes)
    {
        if (!_pending.TryGetValue(subscription, out var count))
        {
            _pending[subscription] = count = new PendingCount();
        }

        if (count.Events >= Limits.MaxPendingEvents || count.Bytes + bytes > Limits.MaxPendingBytes)
        {
            return false;
        }

        count.Events++;
        count.Bytes += bytes;
        return true;
    }

    /// <summary>A pending row left (delivered, acknowledged, dead-lettered, dropped).</summary>
    public void ReleasePending(string subscription, int bytes)
    {
        if (_pending.TryGetValue(subscription, out var count))
        {
            count.Events = Math.Max(0, count.Events - 1);
            count.Bytes = Math.Max(0, count.Bytes - bytes);
        }
    }

    /// <summary>
    /// A pending row became a dead letter: counts it, and deletes the subscription's oldest dead letters (by the time
    /// they were dead-lettered, then seq) beyond the cap, through the partial index ix_deliveries_dead_lettered, so
    /// the cost is that of the rows deleted, never a scan. A cap lowered since the last start trims the excess here.
    /// </summary>
    public void CountDeadLetter(SqliteConnection connection, string subscription)
    {
        if (!_pending.TryGetValue(subscription, out var count))
        {
            _pending[subscription] = count = new PendingCount();
        }

        count.DeadLettered++;
        if (count.DeadLettered <= Limits.MaxDeadLetteredEvents)
        {
            return;
        }

        var command = SqliteStatements.Get(connection, "DELETE FROM deliveries WHERE seq IN (SELECT seq FROM deliveries "
            + "WHERE subscription = $s AND dead_lettered = 1 ORDER BY dead_lettered_at, seq LIMIT $k)");
        command.Parameters.AddWithValue("$s", subscription);
        command.Parameters.AddWithValue("$k", Limits.DeadLettersBeyondCap(count.DeadLettered));
        int evicted = command.ExecuteNonQuery();
        count.DeadLettered -= evicted;
        _evictions.Add((subscription, evicted));
    }

    // Reports the evictions of the operations just committed (before their callers resume), then forgets them.
    private void ReportEvictions(bool committed)
    {
        if (committed && _deadLettersEvicted is { } report)
        {
            foreach (var (subscription, count) in _evictions)
            {
                report(subscription, count);
            }
        }

        _evictions.Clear();
    }

    /// <summary>The subscription is gone with its rows.</summary>
    public void ForgetPending(string subscription) => _pending.Remove(subscription);

    /// <summary>
    /// Counts one subscription again (after a bulk change such as redelivery of its dead letters), or all of them:
    /// pending events and bytes, and dead letters.
    /// </summary>
    public void RecountPending(SqliteConnection connection, string? subscription = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT subscription, COALESCE(SUM(dead_lettered = 0), 0), "
            + "COALESCE(SUM(CASE WHEN dead_lettered = 0 THEN length(event) END), 0), COALESCE(SUM(dead_lettered = 1), 0) FROM deliveries"
            + (subscription is null ? "" : " WHERE subscription = $s") + " GROUP BY subscription";
        if (subscription is null)
        {
            _pending.Clear();
        }
        else
        {
            command.Parameters.AddWithValue("$s", subscription);
            _pending.Remove(subscription);
        }

        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            _pending[reader.GetString(0)] = new PendingCount { Events = reader.GetInt64(1), Bytes = reader.GetInt64(2), DeadLettered = reader.GetInt64(3) };
        }
    }

    private sealed class PendingCount
    {
        public long Events { get; set; }

        public long Bytes { get; set; }

        public long DeadLettered { get; set; }
    }
}
