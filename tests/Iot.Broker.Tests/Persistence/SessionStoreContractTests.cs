using Iot.Broker.Mqtt.Persistence;

namespace Iot.Broker.Tests.Persistence;

/// <summary>What every <see cref="ISessionStore"/> must do; each implementation inherits it.</summary>
public abstract class SessionStoreContractTests : IAsyncLifetime
{
    private readonly List<ISessionStore> _stores = [];

    /// <summary>A fresh directory per test, deleted afterwards.</summary>
    protected string Directory { get; } = Path.Combine(Path.GetTempPath(), "iot-broker-tests-" + Guid.NewGuid().ToString("N"));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        if (System.IO.Directory.Exists(Directory))
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }

    private protected abstract ISessionStore CreateStore(string directory);

    private protected ISessionStore OpenStore()
    {
        var store = CreateStore(Directory);
        _stores.Add(store);
        return store;
    }

    /// <summary>Disposes <paramref name="store"/> and opens the same directory again.</summary>
    private protected async Task<ISessionStore> ReopenAsync(ISessionStore store)
    {
        await store.DisposeAsync();
        return OpenStore();
    }

    private protected async Task<StoreSnapshot> ReloadAsync(ISessionStore store) =>
        await (await ReopenAsync(store)).LoadAsync(CancellationToken.None);

    [Fact]
    public async Task LoadAsync_NewStore_IsEmpty()
    {
        var store = OpenStore();

        var snapshot = await store.LoadAsync(CancellationToken.None);

        Assert.Empty(snapshot.Sessions);
        Assert.Empty(snapshot.Retained);
    }

    [Fact]
    public async Task UpsertSessionAsync_ThenReopen_RoundTripsAndReplaces()
    {
        var store = OpenStore();
        await store.UpsertSessionAsync(new PersistedSession("b-client", 3600, null, 5));
        await store.UpsertSessionAsync(new PersistedSession("a-client", uint.MaxValue, 1_700_000_000_000, 4));
        await store.UpsertSessionAsync(new PersistedSession("b-client", 60, 1_700_000_000_999, 3));

        var snapshot = await ReloadAsync(store);

        Assert.Equal(
            [new PersistedSession("a-client", uint.MaxValue, 1_700_000_000_000, 4), new PersistedSession("b-client", 60, 1_700_000_000_999, 3)],
            snapshot.Sessions.Select(s => s.Session));
    }

    [Fact]
    public async Task UpsertSubscriptionAsync_ThenReopen_RoundTripsEveryOptionAndReplaces()
    {
        var store = OpenStore();
        await store.UpsertSessionAsync(new PersistedSession("c", 60, null, 5));
        await store.UpsertSubscriptionAsync("c", new PersistedSubscription("devices/+/telemetry", 0, false, false, 0, 0));
        await store.UpsertSubscriptionAsync("c", new PersistedSubscription("aggregates/#", 2, true, true, 2, uint.MaxValue));
        await store.UpsertSubscriptionAsync("c", new PersistedSubscription("devices/+/telemetry", 1, true, false, 1, 7));

        var snapshot = await ReloadAsync(store);

        var state = Assert.Single(snapshot.Sessions);
        Assert.Equal(
            [
                new PersistedSubscription("aggregates/#", 2, true, true, 2, uint.MaxValue),
                new PersistedSubscription("devices/+/telemetry", 1, true, false, 1, 7),
            ],
            state.Subscriptions.OrderBy(s => s.Filter, StringComparer.Ordinal));
    }

    [Fact]
    public async Task DeleteSubscriptionAsync_RemovesOnlyThatFilterOfThatClient()
    {
        var store = OpenStore();
        await store.UpsertSessionAsync(new PersistedSession("c1", 60, null, 5));
        await store.UpsertSessionAsync(new PersistedSession("c2", 60, null, 5));
        await store.UpsertSubscriptionAsync("c1", new PersistedSubscription("a", 1, false, false, 0, 0));
        await store.UpsertSubscriptionAsync("c1", new PersistedSubscription("b", 1, false, false, 0, 0));
        await store.UpsertSubscriptionAsync("c2", new PersistedSubscription("a", 1, false, false, 0, 0));

        await store.DeleteSubscriptionAsync("c1", "a");
        var snapshot = await ReloadAsync(store);

        Assert.Equal(["b"], snapshot.Sessions.Single(s => s.Session.ClientId == "c1").Subscriptions.Select(s => s.Filter));
        Assert.Equal(["a"], snapshot.Sessions.Single(s => s.Session.ClientId == "c2").Subscriptions.Select(s => s.Filter));
    }

    [Fact]
    public async Task AppendMessageAsync_OutOfOrder_LoadsInSequenceOrderWithEveryField()
    {
        var store = OpenStore();
        var full = TestMessages.Full();
        await store.UpsertSessionAsync(new PersistedSession("c", 60, null, 5));
        await Task.WhenAll(
            store.AppendMessageAsync("c", 30, TestMessages.Minimal("t/30")),
            store.AppendMessageAsync("c", 10, full),
            store.AppendMessageAsync("c", 20, TestMessages.Minimal("t/20", "twenty")));

        var snapshot = await ReloadAsync(store);

        var messages = Assert.Single(snapshot.Sessions).Messages;
        Assert.Equal([10L, 20L, 30L], messages.Select(m => m.Sequence));
        Assert.All(messages, m => Assert.False(m.Released));
        Assert.All(messages, m => Assert.Equal(0, m.PacketId));
        TestMessages.AssertEqual(full, messages[0].Message);
        TestMessages.AssertEqual(TestMessages.Minimal("t/20", "twenty"), messages[1].Message);
    }

    [Fact]
    public async Task MarkReleasedAsync_RecordsPacketIdOfThatMessageOnly()
    {
        var store = OpenStore();
        await store.UpsertSessionAsync(new PersistedSession("c", 60, null, 5));
        await store.AppendMessageAsync("c", 1, TestMessages.Minimal("t/1"));
        await store.AppendMessageAsync("c", 2, TestMessages.Minimal("t/2"));

        await store.MarkReleasedAsync("c", 2, 65535);
        var snapshot = await ReloadAsync(store);

        var messages = Assert.Single(snapshot.Sessions).Messages;
        Assert.Equal((false, (ushort)0), (messages[0].Released, messages[0].PacketId));
        Assert.Equal((true, (ushort)65535), (messages[1].Released, messages[1].PacketId));
    }

    [Fact]
    public async Task DeleteMessageAsync_RemovesOnlyThatMessage()
    {
        var store = OpenStore();
        await store.UpsertSessionAsync(new PersistedSession("c", 60, null, 5));
        await store.AppendMessageAsync("c", 1, TestMessages.Minimal("t/1"));
        await store.AppendMessageAsync("c", 2, TestMessages.Minimal("t/2"));
        await store.AppendMessageAsync("c", 3, TestMessages.Minimal("t/3"));

        await store.DeleteMessageAsync("c", 2);
        var snapshot = await ReloadAsync(store);

        Assert.Equal(["t/1", "t/3"], Assert.Single(snapshot.Sessions).Messages.Select(m => m.Message.Topic));
    }

    [Fact]
    public async Task DeleteSessionAsync_CascadesToSubscriptionsAndMessagesOfThatClientOnly()
    {
        var store = OpenStore();
        foreach (var clientId in new[] { "gone", "kept" })
        {
            await store.UpsertSessionAsync(new PersistedSession(clientId, 60, null, 5));
            await store.UpsertSubscriptionAsync(clientId, new PersistedSubscription("a/#", 1, false, false, 0, 0));
            await store.AppendMessageAsync(clientId, 1, TestMessages.Minimal("a/1"));
        }

        await store.DeleteSessionAsync("gone");
        var reopened = await ReopenAsync(store);
        var snapshot = await reopened.LoadAsync(CancellationToken.None);

        var state = Assert.Single(snapshot.Sessions);
        Assert.Equal("kept", state.Session.ClientId);
        Assert.Single(state.Subscriptions);
        Assert.Single(state.Messages);

        // Recreating the deleted client must not resurrect its old state.
        await reopened.UpsertSessionAsync(new PersistedSession("gone", 60, null, 5));
        var recreated = (await ReloadAsync(reopened)).Sessions.Single(s => s.Session.ClientId == "gone");
        Assert.Empty(recreated.Subscriptions);
        Assert.Empty(recreated.Messages);
    }

    [Fact]
    public async Task SetRetainedAsync_SetReplaceAndDelete()
    {
        var store = OpenStore();
        await store.SetRetainedAsync(TestMessages.Minimal("aggregates/telemetry/1m/dev-1", "old"));
        await store.SetRetainedAsync(TestMessages.Minimal("aggregates/telemetry/1m/dev-2", "two"));
        await store.SetRetainedAsync(TestMessages.Full("aggregates/telemetry/1m/dev-1"));
        await store.SetRetainedAsync(TestMessages.Minimal("status/broker", "up"));
        await store.DeleteRetainedAsync("status/broker");
        await store.DeleteRetainedAsync("never/set");

        var snapshot = await ReloadAsync(store);

        Assert.Equal(2, snapshot.Retained.Count);
        var byTopic = snapshot.Retained.ToDictionary(m => m.Topic, StringComparer.Ordinal);
        TestMessages.AssertEqual(TestMessages.Full("aggregates/telemetry/1m/dev-1"), byTopic["aggregates/telemetry/1m/dev-1"]);
        TestMessages.AssertEqual(TestMessages.Minimal("aggregates/telemetry/1m/dev-2", "two"), byTopic["aggregates/telemetry/1m/dev-2"]);
    }

    [Fact]
    public async Task DisposeAsync_WithUnawaitedWrites_CommitsThemAll()
    {
        var store = OpenStore();
        var writes = new List<Task> { store.UpsertSessionAsync(new PersistedSession("c", 60, null, 5)) };
        for (var sequence = 1; sequence <= 2000; sequence++)
        {
            writes.Add(store.AppendMessageAsync("c", sequence, TestMessages.Minimal($"t/{sequence}", "payload")));
        }

        await store.DisposeAsync();

        Assert.All(writes, w => Assert.True(w.IsCompletedSuccessfully));
        var snapshot = await OpenStore().LoadAsync(CancellationToken.None);
        Assert.Equal(Enumerable.Range(1, 2000).Select(i => (long)i), Assert.Single(snapshot.Sessions).Messages.Select(m => m.Sequence));
    }

    [Fact]
    public async Task Writes_AfterDispose_ThrowObjectDisposed()
    {
        var store = OpenStore();
        await store.DisposeAsync();
        await store.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.DeleteRetainedAsync("t"));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.LoadAsync(CancellationToken.None));
    }

    [Fact]
    public async Task ConcurrentWriters_AllDurableAndAppliedInCallOrderPerCaller()
    {
        const int Writers = 50;
        const int Messages = 40;
        const int Updates = 10;
        var store = OpenStore();

        // Each caller issues all its writes without waiting: deletes and updates only come out right if the
        // store applies them after the appends and upserts that precede them in call order.
        await Task.WhenAll(Enumerable.Range(0, Writers).Select(writer => Task.Run(async () =>
        {
            var clientId = $"client-{writer:D2}";
            var writes = new List<Task> { store.UpsertSessionAsync(new PersistedSession(clientId, 60, null, 5)) };
            for (var sequence = 1; sequence <= Messages; sequence++)
            {
                writes.Add(store.AppendMessageAsync(clientId, sequence, TestMessages.Minimal($"{clientId}/{sequence}")));
            }

            for (var sequence = 1; sequence <= Messages; sequence += 2)
            {
                writes.Add(store.DeleteMessageAsync(clientId, sequence));
            }

            for (var update = 1; update <= Updates; update++)
            {
                writes.Add(store.UpsertSessionAsync(new PersistedSession(clientId, 60, update, 5)));
            }

            writes.Add(store.MarkReleasedAsync(clientId, Messages, (ushort)(writer + 1)));
            await Task.WhenAll(writes);
        })));

        var snapshot = await ReloadAsync(store);

        Assert.Equal(Writers, snapshot.Sessions.Count);
        for (var writer = 0; writer < Writers; writer++)
        {
            var clientId = $"client-{writer:D2}";
            var state = snapshot.Sessions[writer];
            Assert.Equal(new PersistedSession(clientId, 60, Updates, 5), state.Session);
            Assert.Equal(
                Enumerable.Range(1, Messages / 2).Select(i => $"{clientId}/{i * 2}"),
                state.Messages.Select(m => m.Message.Topic));
            Assert.Equal((true, (ushort)(writer + 1)), (state.Messages[^1].Released, state.Messages[^1].PacketId));
        }
    }

    [Fact]
    public async Task UpsertSessionAsync_Owner_RoundTripsIdentityAnonymousAndUnknown()
    {
        var store = OpenStore();
        await store.LoadAsync(CancellationToken.None);
        await store.UpsertSessionAsync(new PersistedSession("owned", 60, null, 5, "svc"));
        await store.UpsertSessionAsync(new PersistedSession("anonymous", 60, null, 5, string.Empty));
        await store.UpsertSessionAsync(new PersistedSession("unknown", 60, null, 5, null));
        await store.UpsertSessionAsync(new PersistedSession("moved", 60, null, 5, null));
        await store.UpsertSessionAsync(new PersistedSession("moved", 60, 7, 5, "dash"));

        var owners = (await ReloadAsync(store)).Sessions.ToDictionary(s => s.Session.ClientId, s => s.Session.Owner);

        Assert.Equal("svc", owners["owned"]);
        Assert.Equal(string.Empty, owners["anonymous"]);
        Assert.Null(owners["unknown"]);
        Assert.Equal("dash", owners["moved"]);
    }
}
