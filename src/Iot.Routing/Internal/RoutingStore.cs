using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace Iot.Routing.Internal;

/// <summary>
/// The routing layer's durable state in one SQLite file (<c>{dataDir}/routing.db</c>, WAL, <c>synchronous=FULL</c>):
/// routes, subscriptions, pending deliveries (push and pull) and dead letters.
/// </summary>
/// <remarks>
/// One loop owns the connection and runs every operation; the operations waiting when it wakes run in one
/// transaction (group commit), each under its own savepoint so that a failing operation fails alone. A task
/// returned here completes only after the commit, so a caller that awaits it knows the change is durable.
/// The operation queue is bounded: when the disk falls behind, callers (and so MQTT publishers) wait.
/// </remarks>
internal sealed partial class RoutingStore : IAsyncDisposable
{
    private const int MaxBatch = 512;
    private readonly SqliteConnection _connection;
    private readonly Channel<StoreOperation> _operations;
    private readonly Task _loop;
    private int _disposed;

    /// <summary>
    /// Opens (creating when needed) the store at <paramref name="path"/>; each subscription may hold at most
    /// <paramref name="maxPendingEvents"/> pending events of together <paramref name="maxPendingBytes"/> bytes, and
    /// <paramref name="maxDeadLetteredEvents"/> dead letters (the oldest beyond it are deleted, and
    /// <paramref name="deadLettersEvicted"/> told after the commit with the subscription and how many).
    /// </summary>
    public RoutingStore(string path, int queueCapacity = 10_000, int maxPendingEvents = int.MaxValue, long maxPendingBytes = long.MaxValue,
        int maxDeadLetteredEvents = int.MaxValue, Action<string, int>? deadLettersEvicted = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPendingEvents, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPendingBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDeadLetteredEvents, 1);
        Path = path;
        MaxPendingEvents = maxPendingEvents;
        MaxPendingBytes = maxPendingBytes;
        MaxDeadLetteredEvents = maxDeadLetteredEvents;
        _deadLettersEvicted = deadLettersEvicted;
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        _connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString());
        _connection.Open();
        Execute(_connection, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;");
        Execute(_connection, Schema);
        _operations = Channel.CreateBounded<StoreOperation>(new BoundedChannelOptions(queueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _loop = Task.Run(RunAsync);
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>
    /// Definitions that could not be read at start-up, as (table, name, reason): each costs only itself, and the
    /// routing start-up logs every one.
    /// </summary>
    public System.Collections.Concurrent.ConcurrentQueue<(string Table, string Name, string Reason)> SkippedDefinitions { get; } = new();

    private const string Schema = """
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
        """;

    /// <summary>Runs <paramref name="work"/> on the store's loop; completes after its transaction committed.</summary>
    public Task<T> ExecuteAsync<T>(Func<SqliteConnection, T> work)
    {
        var operation = new StoreOperation<T>(work);
        if (Volatile.Read(ref _disposed) != 0)
        {
            return Task.FromException<T>(new ObjectDisposedException(nameof(RoutingStore)));
        }

        return _operations.Writer.TryWrite(operation) ? operation.Task : WriteSlowAsync(operation);
    }

    /// <summary>Reads all rows of a definitions table (<c>routes</c> or <c>subscriptions</c>) on a separate connection.</summary>
    public IReadOnlyList<(string Name, string Definition)> ReadDefinitions(string table)
    {
        if (table is not ("routes" or "subscriptions"))
        {
            throw new ArgumentOutOfRangeException(nameof(table));
        }

        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        }.ToString());
        connection.Open();
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
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _operations.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
        _connection.Dispose();
        SqliteConnection.ClearAllPools();
    }

    internal static void Execute(SqliteConnection connection, string sql) => SqliteStatements.Get(connection, sql).ExecuteNonQuery();

    private async Task<T> WriteSlowAsync<T>(StoreOperation<T> operation)
    {
        try
        {
            await _operations.Writer.WriteAsync(operation).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(nameof(RoutingStore));
        }

        return await operation.Task.ConfigureAwait(false);
    }

    private async Task RunAsync()
    {
        var reader = _operations.Reader;
        var batch = new List<StoreOperation>(MaxBatch);
        var succeeded = new List<StoreOperation>(MaxBatch);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            succeeded.Clear();
            while (batch.Count < MaxBatch && reader.TryRead(out var operation))
            {
                batch.Add(operation);
            }

            try
            {
                if (_pendingStale)
                {
                    RecountPending(_connection);
                    _pendingStale = false;
                }

                Execute(_connection, "BEGIN IMMEDIATE");
            }
            catch (SqliteException ex)
            {
                batch.ForEach(o => o.Fail(ex));
                continue;
            }

            foreach (var operation in batch)
            {
                Execute(_connection, "SAVEPOINT op");
                int evictions = _evictions.Count;
                if (operation.Run(_connection))
                {
                    Execute(_connection, "RELEASE op");
                    succeeded.Add(operation);
                }
                else
                {
                    Execute(_connection, "ROLLBACK TO op; RELEASE op");
                    _evictions.RemoveRange(evictions, _evictions.Count - evictions);
                    _pendingStale = true;
                }
            }

            try
            {
                Execute(_connection, "COMMIT");
                ReportEvictions(committed: true);
                succeeded.ForEach(o => o.Complete());
            }
            catch (SqliteException ex)
            {
                Execute(_connection, "ROLLBACK");
                ReportEvictions(committed: false);
                _pendingStale = true;
                succeeded.ForEach(o => o.Fail(ex));
            }
        }
    }

    private abstract class StoreOperation
    {
        /// <summary>Runs the work; false (and the operation failed) when it threw.</summary>
        public abstract bool Run(SqliteConnection connection);

        public abstract void Complete();

        public abstract void Fail(Exception exception);
    }

    private sealed class StoreOperation<T>(Func<SqliteConnection, T> work) : StoreOperation
    {
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T _result = default!;

        public Task<T> Task => _completion.Task;

        public override bool Run(SqliteConnection connection)
        {
            try
            {
                _result = work(connection);
                return true;
            }
#pragma warning disable CA1031 // The failure belongs to the caller of this operation, not to the store loop.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                _completion.TrySetException(ex);
                return false;
            }
        }

        public override void Complete() => _completion.TrySetResult(_result);

        public override void Fail(Exception exception) => _completion.TrySetException(exception);
    }
}
