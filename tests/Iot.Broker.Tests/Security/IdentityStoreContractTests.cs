using Iot.Broker.Security;
using Iot.Broker.Security.Identities;

namespace Iot.Broker.Tests.Security;

/// <summary>
/// What every <see cref="IIdentityStore"/> promises, run against each implementation (SQLite; the JetStream key-value
/// bucket of cluster mode). Each test opens a second instance on the same storage to read what the first wrote.
/// </summary>
public abstract class IdentityStoreContractTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Created = new(2025, 3, 4, 5, 6, 7, 890, TimeSpan.Zero);

    /// <summary>Prepares the storage (a directory, a server).</summary>
    public abstract Task InitializeAsync();

    /// <summary>Deletes the storage.</summary>
    public abstract Task DisposeAsync();

    /// <summary>Opens an instance on this test's storage; every call one more instance on the same data.</summary>
    internal abstract Task<IIdentityStore> OpenStoreAsync();

    [Fact]
    public async Task UpsertAsync_ThenAnotherInstance_LoadsEveryField()
    {
        var identity = new Identity("svc-1", IdentityRole.Service, false, Created, Created.AddMinutes(1),
            SecretHasher.HashPassword("pw", 1_000), SecretHasher.HashApiKey("0123456789abcdef"));
        using (var store = await OpenStoreAsync())
        {
            await store.UpsertAsync(identity, 0, default);
        }

        using var other = await OpenStoreAsync();
        var loaded = Assert.Single(await other.LoadAllAsync(null, default));

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
    public async Task UpsertAsync_WithoutSecrets_LoadsNulls()
    {
        using var store = await OpenStoreAsync();
        await store.UpsertAsync(Device("dev"), 0, default);

        var loaded = Assert.Single(await store.LoadAllAsync(null, default));

        Assert.Null(loaded.Password);
        Assert.Null(loaded.ApiKeyHash);
    }

    [Fact]
    public async Task UpsertAsync_ExistingId_ReplacesAtTheRevisionItReturned_AndDeleteRemoves()
    {
        using var store = await OpenStoreAsync();
        var first = await store.UpsertAsync(Device("dev"), 0, default);
        var second = await store.UpsertAsync(Device("dev") with { Role = IdentityRole.Dashboard, Enabled = false }, first, default);

        var loaded = Assert.Single(await store.LoadAllAsync(null, default));
        Assert.Equal(IdentityRole.Dashboard, loaded.Role);
        Assert.Equal(second, loaded.Revision);
        Assert.Equal(second, (await store.LoadAsync("dev", default))!.Revision);
        Assert.True(await store.DeleteAsync("dev", second, default));
        Assert.False(await store.DeleteAsync("dev", 0, default));
        Assert.Empty(await store.LoadAllAsync(null, default));
        Assert.Null(await store.LoadAsync("dev", default));
    }

    [Fact]
    public async Task LoadAllAsync_IdsWithDotsAndColons_EveryOneOrderedById()
    {
        using var store = await OpenStoreAsync();
        string[] ids = ["b:c", "a.b", "A", "z-9_x", "."];
        foreach (var id in ids)
        {
            await store.UpsertAsync(Device(id), 0, default);
        }

        using var other = await OpenStoreAsync();
        var loaded = await other.LoadAllAsync(null, default);

        Assert.Equal(ids.Order(StringComparer.Ordinal), loaded.Select(i => i.Id));
        Assert.Equal("a.b", (await other.LoadAsync("a.b", default))!.Id);
    }

    [Fact]
    public async Task DeleteAsync_Unknown_False()
    {
        using var store = await OpenStoreAsync();

        Assert.False(await store.DeleteAsync("nobody", 0, default));
        Assert.Null(await store.LoadAsync("nobody", default));
    }

    [Fact]
    public async Task UpsertAsync_AfterDelete_CreatesAgain()
    {
        using var store = await OpenStoreAsync();
        var revision = await store.UpsertAsync(Device("dev"), 0, default);
        Assert.True(await store.DeleteAsync("dev", revision, default));

        await store.UpsertAsync(Device("dev") with { Role = IdentityRole.Service }, 0, default);

        Assert.Equal(IdentityRole.Service, Assert.Single(await store.LoadAllAsync(null, default)).Role);
    }

    private static Identity Device(string id) => new(id, IdentityRole.Device, true, Created, Created, null, null);
}

/// <summary>The contract on <c>identities.db</c>.</summary>
public sealed class SqliteIdentityStoreContractTests : IdentityStoreContractTests
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"iot-identity-contract-{Guid.NewGuid():N}");

    public override Task InitializeAsync() => Task.CompletedTask;

    public override Task DisposeAsync()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }

        return Task.CompletedTask;
    }

    internal override Task<IIdentityStore> OpenStoreAsync() => Task.FromResult<IIdentityStore>(new SqliteIdentityStore(_directory));
}
