using Iot.Broker.Mqtt.Persistence;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iot.Broker.Tests.Persistence;

/// <summary>A session store written by an older broker opens, keeps its data and gains what the schema added.</summary>
public sealed class SqliteSessionStoreMigrationTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "iot-migration-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public async Task Version1_SessionsWithoutOwner_LoadWithUnknownOwner_AndNewWritesRecordOne()
    {
        Directory.CreateDirectory(_directory);
        var path = Path.Combine(_directory, SqliteSessionStore.FileName);
        using (var v1 = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString()))
        {
            v1.Open();
            using var command = v1.CreateCommand();
            command.CommandText = """
                CREATE TABLE sessions (client_id TEXT NOT NULL PRIMARY KEY, expiry_interval INTEGER NOT NULL,
                    disconnected_at INTEGER NULL, protocol_version INTEGER NOT NULL) WITHOUT ROWID;
                CREATE TABLE subscriptions (client_id TEXT NOT NULL, filter TEXT NOT NULL, qos INTEGER NOT NULL,
                    no_local INTEGER NOT NULL, retain_as_published INTEGER NOT NULL, retain_handling INTEGER NOT NULL,
                    subscription_identifier INTEGER NOT NULL, PRIMARY KEY (client_id, filter)) WITHOUT ROWID;
                CREATE TABLE messages (client_id TEXT NOT NULL, sequence INTEGER NOT NULL, packet_id INTEGER NOT NULL DEFAULT 0,
                    released INTEGER NOT NULL DEFAULT 0, message BLOB NOT NULL, PRIMARY KEY (client_id, sequence));
                CREATE TABLE retained (topic TEXT NOT NULL PRIMARY KEY, message BLOB NOT NULL);
                INSERT INTO sessions VALUES ('old-worker', 3600, 1700000000000, 5);
                INSERT INTO subscriptions VALUES ('old-worker', 'devices/#', 1, 0, 0, 0, 0);
                PRAGMA user_version = 1;
                """;
            command.ExecuteNonQuery();
        }

        await using (var store = new SqliteSessionStore(_directory, NullLogger<SqliteSessionStore>.Instance))
        {
            var snapshot = await store.LoadAsync(CancellationToken.None);
            var state = Assert.Single(snapshot.Sessions);
            Assert.Equal(new PersistedSession("old-worker", 3600, 1700000000000, 5, Owner: null), state.Session);
            Assert.Equal("devices/#", Assert.Single(state.Subscriptions).Filter);
            await store.UpsertSessionAsync(state.Session with { Owner = "svc" });
        }

        await using var reopened = new SqliteSessionStore(_directory, NullLogger<SqliteSessionStore>.Instance);
        Assert.Equal("svc", Assert.Single((await reopened.LoadAsync(CancellationToken.None)).Sessions).Session.Owner);
    }
}
