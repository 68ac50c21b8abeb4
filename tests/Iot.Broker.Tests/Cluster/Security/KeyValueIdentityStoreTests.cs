using Iot.Broker.Cluster.Security;
using Iot.Broker.Security;
using Iot.Broker.Security.Identities;
using Iot.Broker.Tests.Security;

namespace Iot.Broker.Tests.Cluster.Security;

/// <summary>The identity store contract on a JetStream key-value bucket of a real nats-server, and what only a shared store must do.</summary>
[Trait("Category", "Integration")]
public sealed class KeyValueIdentityStoreTests : IdentityStoreContractTests
{
    private static readonly DateTimeOffset Created = new(2025, 3, 4, 5, 6, 7, TimeSpan.Zero);
    private readonly string _bucket = "iot-identities-" + Guid.NewGuid().ToString("N")[..8];
    private NatsServerScope? _nats;

    private NatsServerScope Nats => _nats ?? throw new InvalidOperationException("not started");

    public override async Task InitializeAsync() => _nats = await NatsServerScope.StartAsync();

    public override async Task DisposeAsync()
    {
        if (_nats is not null)
        {
            await _nats.DisposeAsync();
        }
    }

    internal override Task<IIdentityStore> OpenStoreAsync() => Task.FromResult<IIdentityStore>(OpenKeyValueStore());

    [Fact]
    public async Task UpsertAsync_TwoWritersFromOneRevision_OneWinsTheOtherConflicts()
    {
        using var a = OpenKeyValueStore();
        using var b = OpenKeyValueStore();
        var revision = await a.UpsertAsync(Device("dev"), 0, default);

        await a.UpsertAsync(Device("dev") with { Enabled = false }, revision, default);

        await Assert.ThrowsAsync<IdentityStoreConflictException>(() => b.UpsertAsync(Device("dev") with { Role = IdentityRole.Service }, revision, default).AsTask());
        await Assert.ThrowsAsync<IdentityStoreConflictException>(() => b.UpsertAsync(Device("dev"), 0, default).AsTask());
        await Assert.ThrowsAsync<IdentityStoreConflictException>(() => b.DeleteAsync("dev", revision, default).AsTask());
        var stored = await b.LoadAsync("dev", default);
        Assert.False(stored!.Enabled);
        Assert.Equal(IdentityRole.Device, stored.Role);
    }

    [Fact]
    public async Task WatchAsync_AnotherInstancesWrites_ArriveInRevisionOrderAfterTheCurrentValues()
    {
        using var writer = OpenKeyValueStore();
        using var follower = OpenKeyValueStore();
        var first = await writer.UpsertAsync(Device("dev"), 0, default);
        await writer.UpsertAsync(Device("other"), 0, default);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var seen = new List<StoredIdentityChange>();
        var live = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var watching = Task.Run(async () =>
        {
            // From 0: the current values come first (so the watch is live), then the changes.
            await foreach (var change in follower.WatchAsync(0, stop.Token))
            {
                seen.Add(change);
                if (seen.Count == 2)
                {
                    live.TrySetResult();
                }

                if (change.Deleted)
                {
                    return;
                }
            }
        });
        await live.Task.WaitAsync(TimeSpan.FromSeconds(20));

        var second = await writer.UpsertAsync(Device("dev") with { Enabled = false }, first, default);
        Assert.True(await writer.DeleteAsync("dev", second, default));
        await watching.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(["dev", "other", "dev", "dev"], seen.Select(c => c.Id));
        Assert.Equal(first, seen[0].Revision);
        Assert.False(seen[2].Identity!.Enabled);
        Assert.Equal(second, seen[2].Revision);
        Assert.True(seen[3].Deleted);
        Assert.True(seen[3].Revision > second);
        Assert.Equal(seen.Select(c => c.Revision).Order(), seen.Select(c => c.Revision));
    }

    [Fact]
    public async Task WatchAsync_AfterARevision_SkipsWhatCameBefore()
    {
        using var writer = OpenKeyValueStore();
        using var follower = OpenKeyValueStore();
        var first = await writer.UpsertAsync(Device("a"), 0, default);
        var second = await writer.UpsertAsync(Device("b"), 0, default);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        await foreach (var change in follower.WatchAsync(first, stop.Token))
        {
            Assert.Equal("b", change.Id);
            Assert.Equal(second, change.Revision);
            break;
        }
    }

    [Fact]
    public async Task Registry_DisabledThroughAnotherNode_RaisesDisabledHere()
    {
        await using var a = await NodeAsync();
        await using var b = await NodeAsync();
        var created = await a.Registry.TryCreateAsync("dev", IdentityRole.Device);
        Assert.NotNull(created);
        await WaitForAsync(b, "dev", identity => identity?.Enabled == true);
        var disabled = new TaskCompletionSource<IdentityChange>(TaskCreationOptions.RunContinuationsAsynchronously);
        b.Registry.IdentityChanged += change => disabled.TrySetResult(change);

        Assert.NotNull(await a.Registry.TrySetEnabledAsync("dev", false));

        var change = await disabled.Task.WaitAsync(TimeSpan.FromSeconds(1));
        Assert.Equal(new IdentityChange("dev", IdentityChangeKind.Disabled), change);
        Assert.True(b.Registry.TryGet("dev", out var onB));
        Assert.False(onB.Enabled);
    }

    [Fact]
    public async Task Registry_RotatedAndDeletedThroughAnotherNode_RaisesBothHere()
    {
        await using var a = await NodeAsync();
        await using var b = await NodeAsync();
        await a.Registry.TryCreateAsync("svc", IdentityRole.Service);
        await WaitForAsync(b, "svc", identity => identity is not null);
        var changes = new List<IdentityChange>();
        var deleted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        b.Registry.IdentityChanged += change =>
        {
            lock (changes)
            {
                changes.Add(change);
            }

            if (change.Kind == IdentityChangeKind.Deleted)
            {
                deleted.TrySetResult();
            }
        };

        var rotated = await a.Registry.TryRotateCredentialsAsync("svc");
        await WaitForAsync(b, "svc", identity => identity?.ApiKeyHash is { } key && key.AsSpan().SequenceEqual(rotated!.Identity.ApiKeyHash));
        Assert.True(b.Registry.TryFindByApiKey(rotated!.Credentials.ApiKey!, out _));
        Assert.True(await a.Registry.TryDeleteAsync("svc"));
        await deleted.Task.WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal([IdentityChangeKind.CredentialsChanged, IdentityChangeKind.Deleted], changes.Select(c => c.Kind));
        Assert.False(b.Registry.TryGet("svc", out _));
        Assert.False(b.Registry.TryFindByApiKey(rotated.Credentials.ApiKey!, out _));
    }

    [Fact]
    public async Task Registry_ConcurrentChangesOfOneIdentityOnTwoNodes_NoneIsLost()
    {
        await using var a = await NodeAsync();
        await using var b = await NodeAsync();
        await a.Registry.TryCreateAsync("dev", IdentityRole.Device);
        await WaitForAsync(b, "dev", identity => identity is not null);

        // B has not seen A's disable when it rotates: its write expects the old revision, conflicts, re-reads, and
        // rotates the disabled identity: both changes survive.
        await b.Sync.StopAsync(default);
        Assert.NotNull(await a.Registry.TrySetEnabledAsync("dev", false));
        var rotated = await b.Registry.TryRotateCredentialsAsync("dev");

        Assert.NotNull(rotated);
        Assert.False(rotated.Identity.Enabled);
        var stored = await a.Store.LoadAsync("dev", default);
        Assert.False(stored!.Enabled);
        Assert.Equal(rotated.Identity.Password!.Hash, stored.Password!.Hash);
    }

    [Fact]
    public async Task Registry_TwoNodesSeedTheSameConfigurationAtOnce_OneIdentityBothUnchangedAfterwards()
    {
        await using var a = await NodeAsync();
        await using var b = await NodeAsync();

        var results = await Task.WhenAll(
            a.Registry.SeedAsync("svc", IdentityRole.Service, "pw", "0123456789abcdef-key"),
            b.Registry.SeedAsync("svc", IdentityRole.Service, "pw", "0123456789abcdef-key"));

        Assert.Contains(SeedResult.Created, results);
        Assert.DoesNotContain(SeedResult.Updated, results);
        Assert.Equal(SeedResult.Unchanged, await a.Registry.SeedAsync("svc", IdentityRole.Service, "pw", "0123456789abcdef-key"));
        Assert.Equal(SeedResult.Unchanged, await b.Registry.SeedAsync("svc", IdentityRole.Service, "pw", "0123456789abcdef-key"));
        Assert.Single(await a.Store.LoadAllAsync(null, default));
    }

    private static Identity Device(string id) => new(id, IdentityRole.Device, true, Created, Created, null, null);

    private static Task WaitForAsync(Node node, string id, Func<Identity?, bool> accept) =>
        Iot.TestUtilities.Eventually.WaitUntilAsync(
            () => accept(node.Registry.TryGet(id, out var identity) ? identity : null), TimeSpan.FromSeconds(5), $"{id} replicated");

    private KeyValueIdentityStore OpenKeyValueStore() => new(Nats.KeyValue, replicas: 1, _bucket);

    /// <summary>A broker node's identity side: its own NATS connection, store, registry and follower.</summary>
    private async Task<Node> NodeAsync()
    {
        var (connection, kv) = await Nats.ConnectAgainAsync();
        var store = new KeyValueIdentityStore(kv, replicas: 1, _bucket);
        var registry = new IdentityRegistry(store, RegistryScope.Iterations, TimeProvider.System,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<IdentityRegistry>.Instance);
        var sync = new ClusterIdentitySync(registry, store, TimeProvider.System,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<ClusterIdentitySync>.Instance);
        await sync.StartAsync(default);
        await registry.LoadAsync();
        return new Node(connection, store, registry, sync);
    }

    private sealed record Node(NATS.Client.Core.NatsConnection Connection, KeyValueIdentityStore Store, IdentityRegistry Registry, ClusterIdentitySync Sync)
        : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Sync.StopAsync(default);
            Sync.Dispose();
            Registry.Dispose();
            await Connection.DisposeAsync();
        }
    }
}
