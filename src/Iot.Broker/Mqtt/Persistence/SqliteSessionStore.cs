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
    private readonly string _path;
    private readonly SqliteConnection _connection;
    private readonly Commands _commands;
    private readonly Channel<WriteBatch> _batches = Channel.CreateUnbounded<WriteBatch>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = false });

    // Guards _open and _disposed so that a write joins exactly one batch, in call order.
    private readonly Lock _gate = new();
    private readonly Task _writer;
    private WriteBatch? _open;
    private bool _disposed;
    private Task? _disposal;

    private long _committedBatches;
    private long _committedOperations;
    private long _failedBatches;
    private long _pendingOperations;
    private long _commitTicks;
    private long _corruptRecordsSkipped;

    /// <summary>Opens (or creates) <c>mqtt.db</c> in <paramref name="directory"/>, creating the directory too.</summary>
    /// <exception cref="NotSupportedException">The database has a newer schema than this broker knows.</exception>
    public SqliteSessionStore(string directory, ILogger<SqliteSessionStore> logger, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(logger);
        _logger = logger;
        _timeProvider = timeProvider ?? TimeProvider.System;
        Directory.CreateDirectory(directory);
        _path = Path.GetFullPath(Path.Combine(directory, FileName));
        _connection = Open(_path);
        try
        {
            Execute(_connection, "PRAGMA synchronous=FULL;");
            var mode = Convert.ToString(Scalar(_connection, "PRAGMA journal_mode=WAL;"), CultureInfo.InvariantCulture);
            if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
            {
                throw new NotSupportedException($"SQLite refused WAL mode for '{_path}' (journal mode is '{mode}').");
            }

            var version = MigrateSchema();
            AddRetainedOwnerColumn();
            _commands = new Commands(_connection);
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
    public long CommittedBatches => Interlocked.Read(ref _committedBatches);

    /// <summary>Write operations committed since the store was opened.</summary>
    public long CommittedOperations => Interlocked.Read(ref _committedOperations);

    /// <summary>Batches whose commit failed; their tasks were faulted.</summary>
    public long FailedBatches => Interlocked.Read(ref _failedBatches);

    /// <summary>Writes queued and not yet committed or failed.</summary>
    public long PendingOperations => Interlocked.Read(ref _pendingOperations);

    /// <summary>Time spent executing and committing batches, fsync included.</summary>
    public TimeSpan TotalCommitDuration => TimeSpan.FromTicks(Interlocked.Read(ref _commitTicks));

    /// <summary>Records <see cref="LoadAsync"/> skipped because they failed to decode.</summary>
    public long CorruptRecordsSkipped => Interlocked.Read(ref _corruptRecordsSkipped);

    /// <inheritdoc />
    public Task UpsertSessionAsync(PersistedSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(session.ClientId);
        return Enqueue(new WriteOperation(OperationKind.UpsertSession, session.ClientId) { Session = session });
    }

    /// <inheritdoc />
    public Task DeleteSessionAsync(string clientId)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        return Enqueue(new WriteOperation(OperationKind.DeleteSession, clientId));
    }

    /// <inheritdoc />
    public Task UpsertSubscriptionAsync(string clientId, PersistedSubscription subscription)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        ArgumentNullException.ThrowIfNull(subscription);
        ArgumentNullException.ThrowIfNull(subscription.Filter);
        return Enqueue(new WriteOperation(OperationKind.UpsertSubscription, clientId) { Subscription = subscription });
    }

    /// <inheritdoc />
    public Task DeleteSubscriptionAsync(string clientId, string filter)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        ArgumentNullException.ThrowIfNull(filter);
        return Enqueue(new WriteOperation(OperationKind.DeleteSubscription, clientId) { Text = filter });
    }

    /// <inheritdoc />
    public Task AppendMessageAsync(string clientId, long sequence, BrokerMessage message)
    {
        ArgumentNullException.ThrowIfNull(clientId);

        // Encoding here spreads the CPU work over the callers and keeps the writer on I/O.
        var record = BrokerMessageSerializer.Serialize(message);
        return Enqueue(new WriteOperation(OperationKind.AppendMessage, clientId) { Sequence = sequence, Record = record });
    }

    /// <inheritdoc />
    public Task MarkReleasedAsync(string clientId, long sequence, ushort packetId)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        return Enqueue(new WriteOperation(OperationKind.MarkReleased, clientId) { Sequence = sequence, PacketId = packetId });
    }

    /// <inheritdoc />
    public Task DeleteMessageAsync(string clientId, long sequence)
    {
        ArgumentNullException.ThrowIfNull(clientId);
        return Enqueue(new WriteOperation(OperationKind.DeleteMessage, clientId) { Sequence = sequence });
    }

    /// <inheritdoc />
    public Task SetRetainedAsync(BrokerMessage message, string? owner = null)
    {
        var record = BrokerMessageSerializer.Serialize(message);
        return Enqueue(new WriteOperation(OperationKind.SetRetained, message.Topic) { Record = record, Owner = owner });
    }

    /// <inheritdoc />
    public Task DeleteRetainedAsync(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        return Enqueue(new WriteOperation(OperationKind.DeleteRetained, topic));
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
        _commands.Dispose();
        _connection.Dispose();
        LogClosed(_logger, _path, CommittedBatches, CommittedOperations, FailedBatches);
    }

    private Task Enqueue(WriteOperation operation)
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
            Interlocked.Increment(ref _pendingOperations);
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
                _commands.Enlist(transaction);
                foreach (var operation in operations)
                {
                    _commands.Execute(operation);
                }

                transaction.Commit();
            }

            var elapsed = _timeProvider.GetElapsedTime(started);
            Interlocked.Add(ref _commitTicks, elapsed.Ticks);
            Interlocked.Increment(ref _committedBatches);
            Interlocked.Add(ref _committedOperations, operations.Count);
            Interlocked.Add(ref _pendingOperations, -operations.Count);
            if (elapsed >= SlowCommitThreshold)
            {
                LogSlowCommit(_logger, operations.Count, elapsed.TotalMilliseconds);
            }

            batch.Completion.TrySetResult();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The transaction was rolled back by its disposal; callers must not acknowledge these writes.
            Interlocked.Add(ref _commitTicks, _timeProvider.GetElapsedTime(started).Ticks);
            Interlocked.Increment(ref _failedBatches);
            Interlocked.Add(ref _pendingOperations, -operations.Count);
            LogBatchFailed(_logger, ex, operations.Count, _path);
            batch.Completion.TrySetException(ex);
        }
    }

    private static SqliteConnection Open(string path)
    {
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,

            // One long-lived connection per store: disposal must really close the file (and checkpoint the WAL).
            Pooling = false,
        };
        var connection = new SqliteConnection(builder.ToString());
        connection.Open();
        return connection;
    }

    private int MigrateSchema()
    {
        var version = Convert.ToInt32(Scalar(_connection, "PRAGMA user_version;"), CultureInfo.InvariantCulture);
        if (version == SchemaVersion)
        {
            return version;
        }

        if (version > SchemaVersion)
        {
            throw new NotSupportedException(
                $"'{_path}' has session store schema version {version}; this broker supports up to {SchemaVersion}.");
        }

        using var transaction = _connection.BeginTransaction();
        using var command = _connection.CreateCommand();
        command.Transaction = transaction;

        // Rows of small tables live in their key's B-tree (WITHOUT ROWID); message blobs stay in rowid tables,
        // which SQLite recommends for large rows.
        command.CommandText = """
            CREATE TABLE IF NOT EXISTS sessions (
                client_id        TEXT    NOT NULL PRIMARY KEY,
                expiry_interval  INTEGER NOT NULL,
                disconnected_at  INTEGER NULL,
                protocol_version INTEGER NOT NULL,
                owner            TEXT    NULL
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS subscriptions (
                client_id               TEXT    NOT NULL,
                filter                  TEXT    NOT NULL,
                qos                     INTEGER NOT NULL,
                no_local                INTEGER NOT NULL,
                retain_as_published     INTEGER NOT NULL,
                retain_handling         INTEGER NOT NULL,
                subscription_identifier INTEGER NOT NULL,
                PRIMARY KEY (client_id, filter)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS messages (
                client_id TEXT    NOT NULL,
                sequence  INTEGER NOT NULL,
                packet_id INTEGER NOT NULL DEFAULT 0,
                released  INTEGER NOT NULL DEFAULT 0,
                message   BLOB    NOT NULL,
                PRIMARY KEY (client_id, sequence)
            );
            CREATE TABLE IF NOT EXISTS retained (
                topic   TEXT NOT NULL PRIMARY KEY,
                message BLOB NOT NULL
            );
            """;
        command.ExecuteNonQuery();
        if (version == 1)
        {
            // Version 2: a session records the identity that owns it (docs/security.md, "Client ids and sessions").
            // Sessions stored before have no owner: the first identity that resumes one becomes its owner.
            command.CommandText = "ALTER TABLE sessions ADD COLUMN owner TEXT NULL;";
            command.ExecuteNonQuery();
        }

        command.CommandText = "PRAGMA user_version = " + SchemaVersion.ToString(CultureInfo.InvariantCulture) + ";";
        command.ExecuteNonQuery();
        transaction.Commit();
        LogSchemaCreated(_logger, _path, version, SchemaVersion);
        return SchemaVersion;
    }

    /// <summary>
    /// Adds the retained messages' owner column (quotas per identity) to a store made before it existed. Additive and
    /// without a schema version: an older broker ignores the column, and rows without an owner stay readable.
    /// </summary>
    private void AddRetainedOwnerColumn()
    {
        using var command = _connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM pragma_table_info('retained') WHERE name = 'owner';";
        if (Convert.ToInt64(command.ExecuteScalar(), CultureInfo.InvariantCulture) == 0)
        {
            Execute(_connection, "ALTER TABLE retained ADD COLUMN owner TEXT NULL;");
        }
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    [LoggerMessage(1100, LogLevel.Information, "Session store opened at {Path} (schema version {SchemaVersion}, WAL, synchronous=FULL)")]
    private static partial void LogOpened(ILogger logger, string path, int schemaVersion);

    [LoggerMessage(1101, LogLevel.Information, "Session store schema of {Path} migrated from version {FromVersion} to {ToVersion}")]
    private static partial void LogSchemaCreated(ILogger logger, string path, int fromVersion, int toVersion);

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

    private enum OperationKind
    {
        UpsertSession,
        DeleteSession,
        UpsertSubscription,
        DeleteSubscription,
        AppendMessage,
        MarkReleased,
        DeleteMessage,
        SetRetained,
        DeleteRetained,
    }

    /// <summary>One queued write. <see cref="Key"/> is the client id, or the topic for retained messages.</summary>
    private readonly record struct WriteOperation(OperationKind Kind, string Key)
    {
        public string? Text { get; init; }

        public long Sequence { get; init; }

        public ushort PacketId { get; init; }

        public byte[]? Record { get; init; }

        /// <summary>The identity a retained message is charged to.</summary>
        public string? Owner { get; init; }

        public PersistedSession? Session { get; init; }

        public PersistedSubscription? Subscription { get; init; }

        /// <summary>Approximate bytes the write adds to a batch, for the batch size cap.</summary>
        public long Size => 64 + (Record?.Length ?? 0);
    }

    private sealed class WriteBatch
    {
        public List<WriteOperation> Operations { get; } = [];

        public long Bytes { get; set; }

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
