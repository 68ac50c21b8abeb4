using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace Iot.Routing.Internal;

/// <summary>
/// Runs every operation of one SQLite connection on one loop with group commit: the operations waiting when it wakes
/// run in one transaction, each under its own savepoint so that a failing operation fails alone. A task returned here
/// completes only after the commit, so a caller that awaits it knows the change is durable.
/// </summary>
/// <remarks>
/// The operation queue is bounded: when the disk falls behind, callers (and so MQTT publishers) wait. The loop owns the
/// connection from construction on (it is the only thread that uses it) and disposes it.
/// </remarks>
internal sealed class SqliteGroupCommit : IAsyncDisposable
{
    private const int MaxBatch = 512;
    private readonly SqliteConnection _connection;
    private readonly IGroupCommitObserver? _observer;
    private readonly Channel<StoreOperation> _operations;
    private readonly Task _loop;
    private readonly string _owner;
    private readonly Histogram<double>? _commitDuration;
    private readonly KeyValuePair<string, object?> _storeTag;
    private int _disposed;

    /// <summary>Starts the loop on <paramref name="connection"/> (from <see cref="SqliteDatabase.Open"/>), which it owns from now on.</summary>
    /// <param name="connection">The open connection.</param>
    /// <param name="queueCapacity">Operations that may wait for the disk before callers wait.</param>
    /// <param name="owner">The store's name, for <see cref="ObjectDisposedException"/>.</param>
    /// <param name="observer">In-memory state kept in step with the commits, if any.</param>
    /// <param name="commitDuration">Records the time of each committed batch (<c>iot.routing.store.commit.duration</c>), if given.</param>
    /// <param name="storeTag">The <c>store</c> tag of those measurements.</param>
    public SqliteGroupCommit(SqliteConnection connection, int queueCapacity, string owner, IGroupCommitObserver? observer = null,
        Histogram<double>? commitDuration = null, string storeTag = "routing")
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connection = connection;
        _owner = owner;
        _observer = observer;
        _commitDuration = commitDuration;
        _storeTag = new KeyValuePair<string, object?>("store", storeTag);
        _operations = Channel.CreateBounded<StoreOperation>(new BoundedChannelOptions(queueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Runs <paramref name="work"/> on the loop; completes after its transaction committed.</summary>
    public Task<T> ExecuteAsync<T>(Func<SqliteConnection, T> work)
    {
        var operation = new StoreOperation<T>(work);
        if (Volatile.Read(ref _disposed) != 0)
        {
            return Task.FromException<T>(new ObjectDisposedException(_owner));
        }

        return _operations.Writer.TryWrite(operation) ? operation.Task : WriteSlowAsync(operation);
    }

    /// <summary>Lets the waiting operations finish, then closes the connection.</summary>
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

    private async Task<T> WriteSlowAsync<T>(StoreOperation<T> operation)
    {
        try
        {
            await _operations.Writer.WriteAsync(operation).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new ObjectDisposedException(_owner);
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

            var started = Stopwatch.GetTimestamp();
            try
            {
                _observer?.BeforeBatch(_connection);
                SqliteDatabase.Execute(_connection, "BEGIN IMMEDIATE");
            }
            catch (SqliteException ex)
            {
                batch.ForEach(o => o.Fail(ex));
                continue;
            }

            foreach (var operation in batch)
            {
                SqliteDatabase.Execute(_connection, "SAVEPOINT op");
                int mark = _observer?.Mark() ?? 0;
                if (operation.Run(_connection))
                {
                    SqliteDatabase.Execute(_connection, "RELEASE op");
                    succeeded.Add(operation);
                }
                else
                {
                    SqliteDatabase.Execute(_connection, "ROLLBACK TO op; RELEASE op");
                    _observer?.RolledBack(mark);
                }
            }

            try
            {
                SqliteDatabase.Execute(_connection, "COMMIT");
                _commitDuration?.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, _storeTag);
                _observer?.Completed(committed: true);
                succeeded.ForEach(o => o.Complete());
            }
            catch (SqliteException ex)
            {
                SqliteDatabase.Execute(_connection, "ROLLBACK");
                _observer?.Completed(committed: false);
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
