using System.Diagnostics.Metrics;
using Microsoft.Data.Sqlite;

namespace Iot.Routing.Internal;

/// <summary>
/// The routing layer's durable state in one SQLite file (<c>{dataDir}/routing.db</c>, opened by
/// <see cref="SqliteDatabase"/>): routes, subscriptions, pending deliveries (push and pull) and dead letters.
/// </summary>
/// <remarks>
/// Every operation runs on one <see cref="SqliteGroupCommit"/> loop: the operations waiting when it wakes share one
/// transaction, each under its own savepoint, and a task completes only after the commit. The per-subscription quota
/// (<see cref="SubscriptionQuota"/>) is kept on that loop beside the rows it counts.
/// </remarks>
internal sealed partial class SqliteRoutingStore : IRoutingStore
{
    /// <summary>The schema of <c>routing.db</c>; version 1 is the layout of the files written before versions were kept.</summary>
    internal static readonly SqliteSchema Schema = new("routing store", [SqliteSchema.Sql("""
        CREATE TABLE IF NOT EXISTS routes(name TEXT PRIMARY KEY, definition TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS subscriptions(name TEXT PRIMARY KEY, definition TEXT NOT NULL);
        CREATE TABLE IF NOT EXISTS deliveries(
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            subscription TEXT NOT NULL,
            event_id TEXT NOT NULL,
            event BLOB NOT NULL,
            enqueued_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            lock_token TEXT NULL,
            locked_until INTEGER NULL,
            dead_lettered INTEGER NOT NULL DEFAULT 0,
            reason TEXT NULL,
            last_outcome TEXT NULL,
            dead_lettered_at INTEGER NULL);
        CREATE INDEX IF NOT EXISTS ix_deliveries_due ON deliveries(subscription, dead_lettered, next_attempt_at, seq);
        CREATE UNIQUE INDEX IF NOT EXISTS ix_deliveries_lock ON deliveries(lock_token) WHERE lock_token IS NOT NULL;
        CREATE INDEX IF NOT EXISTS ix_deliveries_dead_lettered ON deliveries(subscription, dead_lettered_at) WHERE dead_lettered = 1;
        """)]);

    private readonly SubscriptionQuota _quota;
    private readonly SqliteGroupCommit _loop;

    /// <summary>
    /// Opens (creating when needed) the store at <paramref name="path"/>; each subscription may hold at most
    /// <paramref name="maxPendingEvents"/> pending events of together <paramref name="maxPendingBytes"/> bytes, and
    /// <paramref name="maxDeadLetteredEvents"/> dead letters (the oldest beyond it are deleted, and
    /// <paramref name="deadLettersEvicted"/> told after the commit with the subscription and how many).
    /// </summary>
    public SqliteRoutingStore(string path, int queueCapacity = 10_000, int maxPendingEvents = int.MaxValue, long maxPendingBytes = long.MaxValue,
        int maxDeadLetteredEvents = int.MaxValue, Action<string, int>? deadLettersEvicted = null, Histogram<double>? commitDuration = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        _quota = new SubscriptionQuota(new DeliveryLimits(maxPendingEvents, maxPendingBytes, maxDeadLetteredEvents), deadLettersEvicted);
        Path = path;
        _loop = new SqliteGroupCommit(SqliteDatabase.Open(path, Schema), queueCapacity, nameof(SqliteRoutingStore), _quota, commitDuration, "routing");
    }

    /// <inheritdoc/>
    public string Path { get; }

    /// <inheritdoc/>
    public System.Collections.Concurrent.ConcurrentQueue<(string Table, string Name, string Reason)> SkippedDefinitions { get; } = new();

    /// <inheritdoc/>
    public int MaxPendingEvents => _quota.Limits.MaxPendingEvents;

    /// <inheritdoc/>
    public long MaxPendingBytes => _quota.Limits.MaxPendingBytes;

    /// <inheritdoc/>
    public int MaxDeadLetteredEvents => _quota.Limits.MaxDeadLetteredEvents;

    /// <summary>Runs <paramref name="work"/> on the store's loop; completes after its transaction committed.</summary>
    public Task<T> ExecuteAsync<T>(Func<SqliteConnection, T> work) => _loop.ExecuteAsync(work);

    /// <inheritdoc/>
    public Task<(long Events, long Bytes)> GetPendingQuotaAsync(string subscription) => ExecuteAsync(_ => _quota.Get(subscription));

    /// <inheritdoc/>
    public IReadOnlyList<(string Name, string Definition)> ReadDefinitions(string table)
    {
        if (table is not ("routes" or "subscriptions"))
        {
            throw new ArgumentOutOfRangeException(nameof(table));
        }

        using var connection = SqliteDatabase.OpenReadOnly(Path);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name, definition FROM " + table + " ORDER BY name";
        using var reader = command.ExecuteReader();
        var rows = new List<(string, string)>();
        while (reader.Read())
        {
            rows.Add((reader.GetString(0), reader.GetString(1)));
        }

        return rows;
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => _loop.DisposeAsync();
}
