using System.Diagnostics.Metrics;
using System.Globalization;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace Iot.Broker.Mqtt.Persistence;

/// <summary>
/// <see cref="ISessionStore"/> on SQLite (<c>mqtt.db</c>, WAL, <c>synchronous=FULL</c>) with group commit: writes
/// join the open batch, one writer loop commits each batch in one transaction (one fsync) and then completes the
/// batch's task, or faults it so that nothing lost is ever acknowledged. See docs/adr/0002-session-storage.md.
/// </summary>
/// <remarks>
/// The store does not bound its queue: callers that acknowledge clients await the returned tasks, so MQTT's
/// in-flight windows bound the QoS 1/2 work, and the broker bounds its (mirrored) session queues.
/// </remarks>
internal sealed partial class SqliteSessionStore : ISessionStore
{
    /// <summary>The file name inside the store's directory.</summary>
    public const string FileName = "mqtt.db";

    /// <summary>The schema version kept in <c>PRAGMA user_version</c>.</summary>
    public const int SchemaVersion = 2;

    private const int MaxBatchOperations = 1024;
    private const long MaxBatchBytes = 4 * 1024 * 1024;
    private static readonly TimeSpan SlowCommitThreshold = TimeSpan.FromSeconds(1);

    private readonly ILogger<SqliteSessionStore> _logger;
    private readonly TimeProvider _timeProvider;
    private readonly Histogram<double>? _commitDuration;
    private readonly string _path;
    private readonly SqliteConnection _connection;
    private readonly SessionStoreStatements _statements;
    private readonly Channel<WriteBatch> _batches = Channel.CreateUnbounded<WriteBatch>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });

    // Guards _open and _disposed so that a write joins exactly one batch, in call order.
    private readonly Lock _gate = new();
    private readonly Task _writer;
    private WriteBatch? _open;
    private bool _disposed;
    private Task? _disposal;

    private readonly SessionStoreStatistics _statistics = new();

    /// <summary>Opens (or creates) <c>mqtt.db</c> in <paramref name="directory"/>, creating the directory too.</summary>
    /// <exception cref="NotSupportedException">The database has a newer schema than this broker knows.</exception>
    public SqliteSessionStore(string directory, ILogger<SqliteSessionStore> logger, TimeProvider? timeProvider = null, Histogram<double>? commitDuration = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(logger);
        _logger = logger;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _commitDuration = commitDuration;
        Directory.CreateDirectory(directory);
        _path = Path.GetFullPath(Path.Combine(directory, FileName));
        _connection = SessionStoreSchema.Open(_path);
        try
        {
            SessionStoreSchema.Execute(_connection, "PRAGMA synchronous=FULL;");
            var mode = Convert.ToString(SessionStoreSchema.Scalar(_connection, "PRAGMA journal_mode=WAL;"), CultureInfo.InvariantCulture);
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new NotSupportedException($"SQLite refused WAL mode for '{_path}' (journal mode is '{mode}').");
            }

            var version = SessionStoreSchema.Migrate(_connection, _path, _logger);
            SessionStoreSchema.AddRetainedOwnerColumn(_connection);
            _statements = new SessionStoreStatements(_connection);
            LogOpened(_logger, _path, version);
        }
        catch (SqliteException ex)
        {
            _connection.Dispose();
            throw new InvalidDataException($"The session store '{_path}' cannot be opened (corrupt, not a SQLite database, or not writable): {ex.Message}", ex);
        }
        catch
        {
            _connection.Dispose();
            throw;
        }

        _writer = Task.Run(RunWriterAsync);
    }

    /// <summary>Batches committed since the store was opened.</summary>
    public long CommittedBatches => _statistics.CommittedBatches;

    /// <summary>Write operations committed since the store was opened.</summary>
    public long CommittedOperations => _statistics.CommittedOperations;

    /// <summary>Batches whose commit failed; their tasks were faulted.</summary>
    public long FailedBatches => _statistics.FailedBatches;

    /// <summary>Writes queued and not yet committed or failed.</summary>
    public long PendingOperations => _statistics.PendingOperations;

    /// <summary>Time spent executing and committing batches, fsync included.</summary>
    public TimeSpan TotalCommitDuration => _statistics.TotalCommitDuration;

    /// <summary>Records <see cref="LoadAsync"/> skipped because they failed to decode.</summary>
    public long CorruptRecordsSkipped => _statistics.CorruptRecordsSkipped;

    /// <inheritdoc />
    public Task UpsertSessionAsync(PersistedSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(session.ClientId);
        return Enqueue(new SessionStoreWrite(SessionStoreWriteKind.UpsertSession, session.ClientId) { Session = session });
    }

    /// <inheritdoc />
    public Task DeleteSessionAsync(string clientId)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        return Enqueue(new SessionStoreWrite(SessionStoreWriteKind.DeleteSession, clientId));
    }

    /// <inheritdoc />
    public Task UpsertSubscriptionAsync(string clientId, PersistedSubscription subscription)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        ArgumentNullException.ThrowIfNull(subscription);
        ArgumentNullException.ThrowIfNull(subscription.Filter);
        return Enqueue(new SessionStoreWrite(SessionStoreWriteKind.UpsertSubscription, clientId) { Subscription = subscription });
    }

    /// <inheritdoc />
    public Task DeleteSubscriptionAsync(string clientId, string filter)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        ArgumentNullException.ThrowIfNull(filter);
        return Enqueue(new SessionStoreWrite(SessionStoreWriteKind.DeleteSubscription, clientId) { Text = filter });
    }

    /// <inheritdoc />
    public Task AppendMessageAsync(string clientId, long sequence, BrokerMessage message)
    {
        ArgumentNullException.ThrowIfNull(clientId);

        // Encoding here spreads the CPU work over the callers and keeps the writer on I/O.
        var record = BrokerMessageSerializer.Serialize(message);
        return Enqueue(new SessionStoreWrite(SessionStoreWriteKind.AppendMessage, clientId) { Sequence = sequence, Record = record });
    }

    /// <inheritdoc />
    public Task MarkReleasedAsync(string clientId, long sequence, ushort packetId)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        return Enqueue(new SessionStoreWrite(SessionStoreWriteKind.MarkReleased, clientId) { Sequence = sequence, PacketId = packetId });
    }

    /// <inheritdoc />
    public Task DeleteMessageAsync(string clientId, long sequence)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        return Enqueue(new SessionStoreWrite(SessionStoreWriteKind.DeleteMessage, clientId) { Sequence = sequence });
    }

    /// <inheritdoc />
    public Task SetRetainedAsync(BrokerMessage message, string? owner = null)
    {
        var record = BrokerMessageSerializer.Serialize(message);
        return Enqueue(new SessionStoreWrite(SessionStoreWriteKind.SetRetained, message.Topic) { Record = record, Owner = owner });
    }

    /// <inheritdoc />
    public Task DeleteRetainedAsync(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        return Enqueue(new SessionStoreWrite(SessionStoreWriteKind.DeleteRetained, topic));
    }

    /// <summary>Commits every write already made, stops the writer and closes the database.</summary>
    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                _disposed = true;
                _batches.Writer.TryComplete();
                _disposal = CloseAsync();
            }

            return new ValueTask(_disposal!);
        }
    }

    private async Task CloseAsync()
    {
        // The writer never faults: it completes once the last batch is settled.
        await _writer;
        _statements.Dispose();
        _connection.Dispose();
        LogClosed(_logger, _path, CommittedBatches, CommittedOperations, FailedBatches);
    }

    private Task Enqueue(SessionStoreWrite operation)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var batch = _open;
            var size = operation.Size;
            if (batch is null || batch.Operations.Count >= MaxBatchOperations ||
                (batch.Bytes + size > MaxBatchBytes && batch.Operations.Count > 0))
            {
                batch = new WriteBatch();
                _open = batch;

                // Unbounded and completed only under this lock after _disposed is set: cannot fail here.
                _batches.Writer.TryWrite(batch);
            }

            batch.Operations.Add(operation);
            batch.Bytes += size;
            _statistics.Queued();
            return batch.Completion.Task;
        }
    }

    private async Task RunWriterAsync()
    {
        var reader = _batches.Reader;
        while (await reader.WaitToReadAsync())
        {
            while (reader.TryRead(out var batch))
            {
                lock (_gate)
                {
                    // Seal: writes from now on open the next batch.
                    if (ReferenceEquals(_open, batch))
                    {
                        _open = null;
                    }
                }

                Commit(batch);
            }
        }
    }

    private void Commit(WriteBatch batch)
    {
        var started = _timeProvider.GetTimestamp();
        var operations = batch.Operations;
        try
        {
            using (var transaction = _connection.BeginTransaction())
            {
                _statements.Enlist(transaction);
                foreach (var operation in operations)
                {
                    _statements.Execute(operation);
                }

                transaction.Commit();
            }

            var elapsed = _timeProvider.GetElapsedTime(started);
            _statistics.Committed(operations.Count, elapsed);
            _commitDuration?.Record(elapsed.TotalSeconds);
            if (elapsed >= SlowCommitThreshold)
            {
                LogSlowCommit(_logger, operations.Count, elapsed.TotalMilliseconds);
            }

            batch.Completion.TrySetResult();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The transaction was rolled back by its disposal; callers must not acknowledge these writes.
            _statistics.Failed(operations.Count, _timeProvider.GetElapsedTime(started));
            LogBatchFailed(_logger, ex, operations.Count, _path);
            batch.Completion.TrySetException(ex);
        }
    }

    [LoggerMessage(1100, LogLevel.Information, "Session store opened at {Path} (schema version {SchemaVersion}, WAL, synchronous=FULL)")]
    private static partial void LogOpened(ILogger logger, string path, int schemaVersion);

    [LoggerMessage(1102, LogLevel.Error, "Session store commit of {OperationCount} writes to {Path} failed; they were rolled back and their callers faulted")]
    private static partial void LogBatchFailed(ILogger logger, Exception exception, int operationCount, string path);

    [LoggerMessage(1103, LogLevel.Warning, "Session store commit of {OperationCount} writes took {ElapsedMs} ms")]
    private static partial void LogSlowCommit(ILogger logger, int operationCount, double elapsedMs);

    [LoggerMessage(1104, LogLevel.Warning, "Skipped a corrupt session store row of {Table} for client {ClientId}")]
    private static partial void LogCorruptRow(ILogger logger, Exception exception, string table, string clientId);

    [LoggerMessage(1105, LogLevel.Warning, "Skipped corrupt queued message {Sequence} of client {ClientId}")]
    private static partial void LogCorruptMessage(ILogger logger, Exception exception, string clientId, long sequence);

    [LoggerMessage(1106, LogLevel.Warning, "Skipped the corrupt retained message of topic {Topic}")]
    private static partial void LogCorruptRetained(ILogger logger, Exception exception, string topic);

    [LoggerMessage(1107, LogLevel.Warning, "Ignored {SubscriptionCount} subscriptions and {MessageCount} messages of client ids without a persisted session")]
    private static partial void LogOrphans(ILogger logger, int subscriptionCount, int messageCount);

    [LoggerMessage(1108, LogLevel.Information, "Session store loaded {SessionCount} sessions, {SubscriptionCount} subscriptions, {MessageCount} queued messages and {RetainedCount} retained messages; skipped {SkippedCount} corrupt records")]
    private static partial void LogLoaded(ILogger logger, int sessionCount, int subscriptionCount, int messageCount, int retainedCount, int skippedCount);

    [LoggerMessage(1109, LogLevel.Information, "Session store at {Path} closed after {BatchCount} batches ({OperationCount} writes), {FailedBatchCount} failed")]
    private static partial void LogClosed(ILogger logger, string path, long batchCount, long operationCount, long failedBatchCount);

    private sealed class WriteBatch
    {
        public List<SessionStoreWrite> Operations { get; } = [];

        public long Bytes { get; set; }

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
