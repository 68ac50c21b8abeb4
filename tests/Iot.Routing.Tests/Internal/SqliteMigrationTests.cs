using System.Text;
using Iot.Routing.Commands;
using Iot.Routing.Internal;
using Iot.Routing.Queues;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Routing.Tests.Internal;

/// <summary>
/// Files written by earlier versions open with their data, and every database gets the same pragmas from
/// <see cref="SqliteDatabase"/>.
/// </summary>
public sealed class SqliteMigrationTests : IDisposable
{
    private readonly TestDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));

    public void Dispose() => _directory.Dispose();

    private string QueuesPath => Path.Combine(_directory.Path, "queues.db");

    private long Now => _time.GetUtcNow().ToUnixTimeMilliseconds();

    [Fact]
    public async Task RoutingDatabase_FromBeforeSchemaVersions_OpensWithItsData()
    {
        Write(_directory.Database, LegacyLayouts.RoutingTables + """
            INSERT INTO routes VALUES('r1', '{"name":"r1"}');
            INSERT INTO subscriptions VALUES('s1', '{"name":"s1"}');
            INSERT INTO deliveries(subscription, event_id, event, enqueued_at, expires_at, next_attempt_at) VALUES('s1', 'e1', x'7B7D', 1000, 61000, 1000);
            INSERT INTO deliveries(subscription, event_id, event, enqueued_at, expires_at, next_attempt_at, dead_lettered, reason, dead_lettered_at)
                VALUES('s1', 'e2', x'7B7D', 1000, 61000, 1000, 1, 'Rejected', 2000);
            """);

        await using var store = new SqliteRoutingStore(_directory.Database);

        Assert.Equal([("r1", """{"name":"r1"}""")], store.ReadDefinitions("routes"));
        Assert.Equal([("s1", """{"name":"s1"}""")], store.ReadDefinitions("subscriptions"));
        Assert.Equal("e1", Assert.Single(await store.GetDueAsync("s1", 1000, 10)).EventId);
        Assert.Equal("e2", Assert.Single(await store.ListDeadLettersAsync("s1", 10)).EventId);
        Assert.Equal((1L, 2L), await store.GetPendingQuotaAsync("s1"));
        Assert.Equal(SqliteRoutingStore.Schema.Version, await store.ExecuteAsync(SqliteDatabase.Version));
    }

    [Fact]
    public async Task QueueDatabase_FromBeforeSchemaVersions_KeepsQueuesAndCommands_LosesTheEmptyRoutingTables()
    {
        Write(QueuesPath, LegacyLayouts.QueueTables + LegacyLayouts.RoutingTables + $$"""
            INSERT INTO queues VALUES('q', '{"name":"q","maxDeliveryCount":3}');
            INSERT INTO queues VALUES('$commands', '{"name":"$commands","requiresSession":true}');
            INSERT INTO queue_messages(queue, message_id, session_id, priority, state, enqueued_at, visible_at, expires_at, body)
                VALUES('q', 'm1', NULL, 0, 0, {{Now}}, {{Now}}, 9223372036854775807, x'6869');
            INSERT INTO queue_messages(queue, message_id, session_id, priority, state, enqueued_at, visible_at, expires_at, body)
                VALUES('$commands', 'cm1', 'dev-1', 0, 0, {{Now}}, {{Now}}, 9223372036854775807, x'6331');
            INSERT INTO commands(command_id, device_id, name, message_id, seq, status, created_at, updated_at, expires_at)
                VALUES('c1', 'dev-1', 'reboot', 'cm1', 2, 0, {{Now}}, {{Now}}, {{Now + 60_000}});
            """);

        await using var queues = new SqliteQueueStore(QueuesPath, _time);
        var commands = new SqliteCommandStore(queues);

        Assert.Equal(3, queues.FindQueue("q")!.MaxDeliveryCount);
        var received = Assert.Single(await queues.ReceiveAsync("q", new ReceiveRequest()));
        Assert.Equal(("m1", "hi"), (received.MessageId, Encoding.UTF8.GetString(received.Body)));
        var record = await commands.GetAsync("c1");
        Assert.Equal(("cm1", (long?)2, CommandStatus.Queued), (record!.MessageId, record.SequenceNumber, record.Status));
        Assert.True(await commands.AnswerAsync("c1", "dev-1", CommandStatus.Completed, "ok"u8.ToArray(), null, Now, null));
        var tables = await queues.ExecuteAsync(connection => Strings(connection, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"));
        Assert.DoesNotContain("routes", tables);
        Assert.DoesNotContain("subscriptions", tables);
        Assert.DoesNotContain("deliveries", tables);
        Assert.Contains("commands", tables);
        Assert.Equal(SqliteQueueStore.Schema.Version, await queues.ExecuteAsync(SqliteDatabase.Version));
    }

    [Fact]
    public async Task QueueDatabase_RoutingTableThatHoldsRows_IsKept()
    {
        Write(QueuesPath, LegacyLayouts.QueueTables + LegacyLayouts.RoutingTables + "INSERT INTO routes VALUES('r1', '{}');");

        await using var queues = new SqliteQueueStore(QueuesPath, _time);

        var tables = await queues.ExecuteAsync(connection => Strings(connection, "SELECT name FROM sqlite_master WHERE type = 'table'"));
        Assert.Contains("routes", tables);
        Assert.DoesNotContain("deliveries", tables);
    }

    [Fact]
    public async Task NewDatabases_OnlyTheirOwnTables()
    {
        await using (var routing = new SqliteRoutingStore(_directory.Database))
        {
            Assert.Equal(["deliveries", "routes", "subscriptions"],
                await routing.ExecuteAsync(c => Strings(c, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name")));
        }

        await using var queues = new SqliteQueueStore(QueuesPath, _time);
        Assert.Equal(["commands", "queue_duplicates", "queue_messages", "queue_sessions", "queues"],
            await queues.ExecuteAsync(c => Strings(c, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' ORDER BY name")));
    }

    [Fact]
    public void Open_NewerSchemaVersion_RefusedAndTheFileUntouched()
    {
        Write(_directory.Database, LegacyLayouts.RoutingTables + "INSERT INTO routes VALUES('r1', '{}'); PRAGMA user_version = 99;");

        var error = Assert.Throws<NotSupportedException>(() => new SqliteRoutingStore(_directory.Database));

        Assert.Contains("routing store schema version 99", error.Message, StringComparison.Ordinal);
        using var connection = SqliteDatabase.OpenReadOnly(_directory.Database);
        Assert.Equal(99, SqliteDatabase.Version(connection));
        Assert.Equal(["r1"], Strings(connection, "SELECT name FROM routes"));
    }

    [Fact]
    public void Open_EveryDatabase_SamePragmas()
    {
        foreach (var (path, schema) in new[] { (_directory.Database, SqliteRoutingStore.Schema), (QueuesPath, SqliteQueueStore.Schema) })
        {
            using var connection = SqliteDatabase.Open(path, schema);
            Assert.Equal(["wal"], Strings(connection, "PRAGMA journal_mode"));
            Assert.Equal(("2", "1", SqliteDatabase.BusyTimeoutMilliseconds.ToString(System.Globalization.CultureInfo.InvariantCulture)),
                (Strings(connection, "PRAGMA synchronous")[0], Strings(connection, "PRAGMA foreign_keys")[0], Strings(connection, "PRAGMA busy_timeout")[0]));
        }
    }

    [Fact]
    public void Open_FailingMigration_RollsBackAndLeavesTheVersion()
    {
        var schema = new SqliteSchema("test", [SqliteSchema.Sql("CREATE TABLE a(x INTEGER);"), _ => throw new InvalidOperationException("step 2")]);

        Assert.Throws<InvalidOperationException>(() => SqliteDatabase.Open(_directory.Database, schema));

        using var connection = SqliteDatabase.OpenReadOnly(_directory.Database);
        Assert.Equal(0, SqliteDatabase.Version(connection));
        Assert.Empty(Strings(connection, "SELECT name FROM sqlite_master WHERE name = 'a'"));
    }

    private static void Write(string path, string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static List<string> Strings(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var values = new List<string>();
        while (reader.Read())
        {
            values.Add(Convert.ToString(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture)!);
        }

        return values;
    }
}
