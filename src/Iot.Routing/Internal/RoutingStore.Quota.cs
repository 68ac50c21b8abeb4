using Microsoft.Data.Sqlite;

namespace Iot.Routing.Internal;

/// <summary>
/// The pending-delivery quota: what each subscription holds that is neither delivered nor dead-lettered (count and
/// bytes of the encoded events), kept in memory next to the rows it counts.
/// </summary>
/// <remarks>
/// The counts are read and changed only inside operations, that is on the store's loop, by the same code that inserts,
/// deletes or dead-letters the rows, so they need no lock and cannot race. An operation that fails (its savepoint
/// rolled back) or a commit that fails leaves them unknown: the loop then counts again from the table before the next
/// batch, as it does once at start.
/// </remarks>
internal sealed partial class RoutingStore
{
    private readonly Dictionary<string, PendingCount> _pending = new(StringComparer.Ordinal);
    private bool _pendingStale = true;

    /// <summary>Pending events one subscription may hold; a delivery beyond it is not recorded.</summary>
    public int MaxPendingEvents { get; }

    /// <summary>Bytes of pending events one subscription may hold; a delivery beyond it is not recorded.</summary>
    public long MaxPendingBytes { get; }

    /// <summary>The pending count and bytes of a subscription as the quota sees them (for tests and diagnostics).</summary>
    public Task<(long Events, long Bytes)> GetPendingQuotaAsync(string subscription) => ExecuteAsync(_ =>
        _pending.TryGetValue(subscription, out var count) ? (count.Events, count.Bytes) : (0L, 0L));

    // True when the subscription has room for one more event of this size; counts it when so.
    private bool TryReservePending(string subscription, int bytes)
    {
        if (!_pending.TryGetValue(subscription, out var count))
        {
            _pending[subscription] = count = new PendingCount();
        }

        if (count.Events >= MaxPendingEvents || count.Bytes + bytes > MaxPendingBytes)
        {
            return false;
        }

        count.Events++;
        count.Bytes += bytes;
        return true;
    }

    // A pending row left (delivered, acknowledged, dead-lettered, dropped).
    private void ReleasePending(string subscription, int bytes)
    {
        if (_pending.TryGetValue(subscription, out var count))
        {
            count.Events = Math.Max(0, count.Events - 1);
            count.Bytes = Math.Max(0, count.Bytes - bytes);
        }
    }

    private void ForgetPending(string subscription) => _pending.Remove(subscription);

    // Counts one subscription again (after a bulk change such as redelivery of its dead letters), or all of them.
    private void RecountPending(SqliteConnection connection, string? subscription = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT subscription, COUNT(*), COALESCE(SUM(length(event)), 0) FROM deliveries WHERE dead_lettered = 0"
            + (subscription is null ? "" : " AND subscription = $s") + " GROUP BY subscription";
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
            _pending[reader.GetString(0)] = new PendingCount { Events = reader.GetInt64(1), Bytes = reader.GetInt64(2) };
        }
    }

    private sealed class PendingCount
    {
        public long Events { get; set; }

        public long Bytes { get; set; }
    }
}
