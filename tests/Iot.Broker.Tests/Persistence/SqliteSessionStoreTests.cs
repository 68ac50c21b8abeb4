using System.Collections.Concurrent;
using Iot.Broker.Mqtt.Persistence;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Iot.Broker.Tests.Persistence;

public sealed class SqliteSessionStoreTests : SessionStoreContractTests
{
    private readonly CapturingLogger<SqliteSessionStore> _logger = new();

    private string DatabasePath => Path.Combine(Directory, SqliteSessionStore.FileName);

    private protected override ISessionStore CreateStore(string directory) => new SqliteSessionStore(directory, _logger);

    private SqliteSessionStore OpenSqlite() => (SqliteSessionStore)OpenStore();

    /// <summary>A second connection to the store's file, as an operator's sqlite3 shell would have.</summary>
    private SqliteConnection OpenSideConnection()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = DatabasePath, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    [Fact]
    public void Constructor_MissingDirectory_CreatesWalDatabaseWithSchemaVersion()
    {
        OpenSqlite();

        using var side = OpenSideConnection();
        Assert.Equal("wal", Scalar(side, "PRAGMA journal_mode;"));
        Assert.Equal((long)SqliteSessionStore.SchemaVersion, Scalar(side, "PRAGMA user_version;"));
        Assert.Equal(4L, Scalar(side, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('sessions', 'subscriptions', 'messages', 'retained');"));
        Assert.Contains(_logger.Entries, e => e.EventId == 1100);
    }

    [Fact]
    public async Task Constructor_NewerSchemaVersion_ThrowsNotSupported()
    {
        await OpenSqlite().DisposeAsync();
        using (var side = OpenSideConnection())
        {
            Scalar(side, "PRAGMA user_version = 99;");
        }

        var ex = Assert.Throws<NotSupportedException>(() => new SqliteSessionStore(Directory, _logger));

        Assert.Contains("99", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Counters_AfterAwaitedWrites_CountEveryOperation()
    {
        var store = OpenSqlite();
        await store.UpsertSessionAsync(new PersistedSession("c", 60, null, 5));
        await Task.WhenAll(Enumerable.Range(1, 100).Select(i => store.AppendMessageAsync("c", i, TestMessages.Minimal("t"))));

        Assert.Equal(101, store.CommittedOperations);
        Assert.InRange(store.CommittedBatches, 2, 101);
        Assert.Equal(0, store.FailedBatches);
        Assert.Equal(0, store.PendingOperations);
    }

    [Fact]
    public async Task Writes_WhileTheWriterWaits_AreGroupedIntoOneCommit()
    {
        var store = OpenSqlite();
        await store.UpsertSessionAsync(new PersistedSession("c", 60, null, 5));
        var batchesBefore = store.CommittedBatches;

        // Another connection holds the write lock, so the writer blocks on its first batch while the rest queue.
        var writes = new List<Task>();
        using (var side = OpenSideConnection())
        using (var blocker = side.BeginTransaction())
        {
            Scalar(side, "DELETE FROM retained WHERE topic = 'nothing';");
            for (var sequence = 1; sequence <= 1000; sequence++)
            {
                writes.Add(store.AppendMessageAsync("c", sequence, TestMessages.Minimal("t")));
            }

            Assert.DoesNotContain(writes, w => w.IsCompleted);
            blocker.Commit();
        }

        await Task.WhenAll(writes);

        Assert.InRange(store.CommittedBatches - batchesBefore, 1, 2);
        Assert.Equal(1001, store.CommittedOperations);
    }

    [Fact]
    public async Task FailedBatch_FaultsItsTasksLogsAndTheWriterGoesOn()
    {
        var store = OpenSqlite();
        await store.SetRetainedAsync(TestMessages.Minimal("before"));
        using (var side = OpenSideConnection())
        {
            // A real SQLite failure inside the writer's transaction, injected without touching the store.
            Scalar(side, """
                CREATE TRIGGER reject_poison BEFORE INSERT ON retained WHEN NEW.topic = 'poison'
                BEGIN SELECT RAISE(ABORT, 'injected failure'); END;
                """);
        }

        var ex = await Assert.ThrowsAsync<SqliteException>(() => store.SetRetainedAsync(TestMessages.Minimal("poison")));
        await store.SetRetainedAsync(TestMessages.Minimal("after"));

        Assert.Contains("injected failure", ex.Message, StringComparison.Ordinal);
        Assert.Equal(1, store.FailedBatches);
        Assert.Equal(0, store.PendingOperations);
        Assert.Contains(_logger.Entries, e => e.EventId == 1102 && e.Level == LogLevel.Error && e.Exception is SqliteException);
        var snapshot = await ReloadAsync(store);
        Assert.Equal(["after", "before"], snapshot.Retained.Select(m => m.Topic).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task FailedBatch_NoFaultedWriteIsAppliedAndNoCompletedWriteIsLost()
    {
        var store = OpenSqlite();
        await store.UpsertSessionAsync(new PersistedSession("c", 60, null, 5));
        using (var side = OpenSideConnection())
        {
            Scalar(side, """
                CREATE TRIGGER reject_poison BEFORE INSERT ON retained WHEN NEW.topic = 'poison'
                BEGIN SELECT RAISE(ABORT, 'injected failure'); END;
                """);
        }

        // With the write lock held elsewhere the writes pile up, so the poison shares its batch with appends.
        var appends = new List<Task>();
        Task poison;
        using (var side = OpenSideConnection())
        using (var blocker = side.BeginTransaction())
        {
            for (var sequence = 1; sequence <= 50; sequence++)
            {
                appends.Add(store.AppendMessageAsync("c", sequence, TestMessages.Minimal("t")));
            }

            poison = store.SetRetainedAsync(TestMessages.Minimal("poison"));
            for (var sequence = 51; sequence <= 100; sequence++)
            {
                appends.Add(store.AppendMessageAsync("c", sequence, TestMessages.Minimal("t")));
            }

            blocker.Commit();
        }

        await Assert.ThrowsAsync<SqliteException>(() => poison);
        await Task.WhenAll(appends).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing | ConfigureAwaitOptions.ContinueOnCapturedContext);
        var snapshot = await ReloadAsync(store);

        var stored = Assert.Single(snapshot.Sessions).Messages.Select(m => m.Sequence).ToHashSet();
        for (var i = 0; i < appends.Count; i++)
        {
            Assert.Equal(appends[i].IsCompletedSuccessfully, stored.Contains(i + 1));
        }

        // The writer sealed its first batch either before or after the poison: a neighbour shared its fate.
        Assert.True(!appends[49].IsCompletedSuccessfully || !appends[50].IsCompletedSuccessfully);
        Assert.Empty(snapshot.Retained);
    }

    [Fact]
    public async Task LoadAsync_CorruptRecords_AreSkippedCountedAndLogged()
    {
        var store = OpenSqlite();
        await store.UpsertSessionAsync(new PersistedSession("c", 60, null, 5));
        await store.AppendMessageAsync("c", 1, TestMessages.Full());
        await store.AppendMessageAsync("c", 2, TestMessages.Full());
        await store.AppendMessageAsync("c", 3, TestMessages.Full());
        await store.SetRetainedAsync(TestMessages.Minimal("good", "g"));
        await store.SetRetainedAsync(TestMessages.Minimal("bad", "b"));
        await store.DisposeAsync();

        using (var side = OpenSideConnection())
        {
            // Bit rot in the middle of one message and of one retained record; a truncated third.
            Scalar(side, "UPDATE messages SET message = substr(message, 1, 10) || " + FlipByte("substr(message, 11, 1)") + " || substr(message, 12) WHERE sequence = 2;");
            Scalar(side, "UPDATE retained SET message = substr(message, 1, length(message) - 1) || " + FlipByte("substr(message, -1)") + " WHERE topic = 'bad';");
            Scalar(side, "UPDATE messages SET message = substr(message, 1, 5) WHERE sequence = 3;");
        }

        var reopened = OpenSqlite();
        var snapshot = await reopened.LoadAsync(CancellationToken.None);

        Assert.Equal([1L], Assert.Single(snapshot.Sessions).Messages.Select(m => m.Sequence));
        Assert.Equal(["good"], snapshot.Retained.Select(m => m.Topic));
        Assert.Equal(3, reopened.CorruptRecordsSkipped);
        Assert.Equal(2, _logger.Entries.Count(e => e.EventId == 1105 && e.Exception is InvalidDataException));
        Assert.Single(_logger.Entries, e => e.EventId == 1106);
    }

    [Fact]
    public async Task LoadAsync_RowsWithoutSession_AreIgnored()
    {
        var store = OpenSqlite();
        await store.UpsertSubscriptionAsync("orphan", new PersistedSubscription("a", 1, false, false, 0, 0));
        await store.AppendMessageAsync("orphan", 1, TestMessages.Minimal("a"));

        var snapshot = await ReloadAsync(store);

        Assert.Empty(snapshot.Sessions);
        Assert.Contains(_logger.Entries, e => e.EventId == 1107);
    }

    private static string FlipByte(string byteExpression) =>
        $"CASE WHEN {byteExpression} = X'00' THEN X'01' ELSE X'00' END";

    private sealed class CapturingLogger<T> : ILogger<T>
    {
        public ConcurrentQueue<(int EventId, LogLevel Level, Exception? Exception)> Entries { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Entries.Enqueue((eventId.Id, logLevel, exception));
    }
}
