using Iot.Broker.Security;
using Iot.Broker.Security.Identities;
using Microsoft.Data.Sqlite;

namespace Iot.Broker.Tests.Security;

public sealed class SqliteIdentityStoreTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"iot-identity-store-{Guid.NewGuid():N}");

    [Fact]
    public void Upsert_ThenReopen_RoundTripsEveryField()
    {
        var created = new DateTimeOffset(2025, 3, 4, 5, 6, 7, 890, TimeSpan.Zero);
        var identity = new Identity("svc-1", IdentityRole.Service, false, created, created.AddMinutes(1),
            SecretHasher.HashPassword("pw", 1_000), SecretHasher.HashApiKey("0123456789abcdef"));
        using (var store = new SqliteIdentityStore(_directory))
        {
            store.Upsert(identity);
        }

        using var reopened = new SqliteIdentityStore(_directory);
        var loaded = Assert.Single(reopened.LoadAll());

        Assert.Equal(identity.Id, loaded.Id);
        Assert.Equal(identity.Role, loaded.Role);
        Assert.False(loaded.Enabled);
        Assert.Equal(identity.CreatedAt, loaded.CreatedAt);
        Assert.Equal(identity.UpdatedAt, loaded.UpdatedAt);
        Assert.Equal(identity.Password!.Salt, loaded.Password!.Salt);
        Assert.Equal(identity.Password.Hash, loaded.Password.Hash);
        Assert.Equal(1_000, loaded.Password.Iterations);
        Assert.Equal(identity.ApiKeyHash, loaded.ApiKeyHash);
    }

    [Fact]
    public void Upsert_WithoutSecrets_LoadsNulls()
    {
        using var store = new SqliteIdentityStore(_directory);
        store.Upsert(new Identity("dev", IdentityRole.Device, true, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, null, null));

        var loaded = Assert.Single(store.LoadAll());

        Assert.Null(loaded.Password);
        Assert.Null(loaded.ApiKeyHash);
    }

    [Fact]
    public void Upsert_ExistingId_Replaces_AndDeleteRemoves()
    {
        using var store = new SqliteIdentityStore(_directory);
        var identity = new Identity("dev", IdentityRole.Device, true, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, null, null);
        store.Upsert(identity);
        store.Upsert(identity with { Role = IdentityRole.Dashboard, Enabled = false });

        Assert.Equal(IdentityRole.Dashboard, Assert.Single(store.LoadAll()).Role);
        Assert.True(store.Delete("dev"));
        Assert.False(store.Delete("dev"));
        Assert.Empty(store.LoadAll());
    }

    [Fact]
    public void Open_NewDatabase_WalModeInIdentitiesDb()
    {
        using (var store = new SqliteIdentityStore(_directory))
        {
            Assert.Equal(Path.Combine(_directory, "identities.db"), store.Path);
        }

        using var connection = new SqliteConnection($"Data Source={Path.Combine(_directory, "identities.db")};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode;";
        Assert.Equal("wal", command.ExecuteScalar() as string);
    }

    [Fact]
    public void Open_NewerSchema_NotSupported()
    {
        Directory.CreateDirectory(_directory);
        using (var connection = new SqliteConnection($"Data Source={Path.Combine(_directory, "identities.db")};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version = 99;";
            command.ExecuteNonQuery();
        }

        Assert.Throws<NotSupportedException>(() => new SqliteIdentityStore(_directory));
    }

    [Fact]
    public void LoadAll_UnreadableRowBetweenGoodOnes_SkipsOnlyThatRow_AndSaysWhich()
    {
        using (var store = new SqliteIdentityStore(_directory))
        {
            store.Upsert(new Identity("a-dev", IdentityRole.Device, true, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, null, null));
            store.Upsert(new Identity("c-svc", IdentityRole.Service, true, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch, null, null));
        }

        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_directory, SqliteIdentityStore.FileName), Pooling = false }.ToString()))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = """
                INSERT INTO identities(id, role, enabled, created_at, updated_at) VALUES ('b-bad', 'Wizard', 1, 0, 0);
                INSERT INTO identities(id, role, enabled, created_at, updated_at, password_salt, password_hash, password_iterations)
                    VALUES ('b-text-hash', 'Device', 1, 0, 0, 'not a blob', 'not a blob', 1000);
                """;
            command.ExecuteNonQuery();
        }

        using var reopened = new SqliteIdentityStore(_directory);
        var skipped = new List<(string Id, string Reason)>();
        var loaded = reopened.LoadAll(skipped);

        Assert.Equal(["a-dev", "c-svc"], loaded.Select(i => i.Id));
        Assert.Equal(["b-bad", "b-text-hash"], skipped.Select(s => s.Id));
        Assert.Contains("unknown role 'Wizard'", skipped[0].Reason, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
