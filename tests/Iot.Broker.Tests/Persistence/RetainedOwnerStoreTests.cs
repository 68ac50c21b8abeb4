using Iot.Broker.Mqtt.Persistence;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iot.Broker.Tests.Persistence;

/// <summary>Issue 16, finding 6: the owner of each retained message is stored with it, and stores made before that stay readable.</summary>
public sealed class RetainedOwnerStoreTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "iot-retained-owner-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    [Fact]
    public async Task SetRetainedAsync_WithAndWithoutOwner_LoadsTheOwnersThatWereGiven()
    {
        await using (var store = Open())
        {
            await store.SetRetainedAsync(TestMessages.Minimal("devices/d1/state", "on"), "d1");
            await store.SetRetainedAsync(TestMessages.Minimal("aggregates/t/1m/d1", "{}"));
            await store.SetRetainedAsync(TestMessages.Minimal("devices/d1/state", "off"), "backend");
        }

        await using var reopened = Open();
        var snapshot = await reopened.LoadAsync(CancellationToken.None);
        Assert.Equal(2, snapshot.Retained.Count);
        Assert.Equal("backend", Assert.Single(snapshot.RetainedOwners!).Value);
        Assert.Equal("devices/d1/state", snapshot.RetainedOwners!.Single().Key);
    }

    [Fact]
    public async Task Open_StoreMadeBeforeOwners_AddsTheColumnAndKeepsItsRetainedMessages()
    {
        await Open().DisposeAsync();
        using (var side = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_directory, SqliteSessionStore.FileName), Pooling = false }.ToString()))
        {
            side.Open();
            using var command = side.CreateCommand();
            command.CommandText = "ALTER TABLE retained DROP COLUMN owner; INSERT INTO retained (topic, message) VALUES ('devices/d1/state', $m);";
            command.Parameters.AddWithValue("$m", BrokerMessageSerializer.Serialize(TestMessages.Minimal("devices/d1/state", "old")));
            command.ExecuteNonQuery();
        }

        await using var store = Open();
        var snapshot = await store.LoadAsync(CancellationToken.None);
        Assert.Equal("devices/d1/state", Assert.Single(snapshot.Retained).Topic);
        Assert.Empty(snapshot.RetainedOwners!);
        await store.SetRetainedAsync(TestMessages.Minimal("devices/d1/state", "new"), "d1");
    }

    private SqliteSessionStore Open() => new(_directory, NullLogger<SqliteSessionStore>.Instance);
}
