using System.Text;
using Iot.Routing.Internal;
using Iot.Routing.Internal.JetStream;
using Iot.Routing.Rules;
using Iot.Routing.Subscriptions;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Tests.Internal;

/// <summary>
/// The routing store contract on JetStream key-value buckets of a real nats-server (fresh buckets per test), and what
/// only a store shared by nodes must do: two store instances on two connections stand for two nodes.
/// </summary>
[Trait("Category", "Integration")]
public sealed class JetStreamRoutingStoreTests : RoutingStoreContractTests, IClassFixture<OneNatsServer>, IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);
    private readonly string _bucket = "iot-routing-" + Guid.NewGuid().ToString("N")[..8];
    private readonly NatsClusterFixture _nats;
    private readonly List<NatsConnection> _connections = [];

    public JetStreamRoutingStoreTests(OneNatsServer server)
    {
        ArgumentNullException.ThrowIfNull(server);
        _nats = server.Nats;
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }
    }

    private protected override IRoutingStore Open(int maxPendingEvents = int.MaxValue, long maxPendingBytes = long.MaxValue,
        int maxDeadLetteredEvents = int.MaxValue) => OpenNode(maxPendingEvents, maxPendingBytes, maxDeadLetteredEvents);

    // A store on its own connection, as another node's would be.
    private JetStreamRoutingStore OpenNode(int maxPendingEvents = int.MaxValue, long maxPendingBytes = long.MaxValue,
        int maxDeadLetteredEvents = int.MaxValue)
    {
        var (js, kv) = Connect();
        return new JetStreamRoutingStore(js, kv, _nats.Replicas, TimeProvider.System, maxPendingEvents, maxPendingBytes, maxDeadLetteredEvents,
            ReportEvicted, _bucket);
    }

    private (INatsJSContext JetStream, INatsKVContext KeyValue) Connect()
    {
        var connection = _nats.CreateConnection();
        _connections.Add(connection);
        var js = new NatsJSContext(connection);
        return (js, new NatsKVContext(js));
    }

    [Fact]
    public async Task LockToken_TakenOnOneNode_SettlesOnAnother()
    {
        await using var a = OpenNode();
        await using var b = OpenNode();
        await a.EnqueueAsync([Delivery("p", "e1"), Delivery("p", "e2")]);

        // B sees A's deliveries through its watch, then locks them; A settles B's tokens by reading their keys.
        List<DeliveryRecord> received = [];
        await Eventually.WaitUntilAsync(async () => (received = await b.ReceiveAsync("p", 10, 1000, 60_000, 10, true)).Count > 0, Deadline, "B receives A's deliveries");
        Assert.Equal(2, received.Count);
        var ack = await a.AcknowledgeAsync("p", [received[0].LockToken!], now: 2000);
        Assert.Equal([received[0].LockToken!], ack.Succeeded);
        Assert.Single((await a.ReleaseAsync("p", [received[1].LockToken!], 2000, delay: 0)).Succeeded);
        Assert.Single((await a.AcknowledgeAsync("p", [received[0].LockToken!], 2000)).Failed);

        await Eventually.WaitUntilAsync(async () => await b.CountAsync("p") == (1, 0), Deadline, "B sees the acknowledgement made on A");
        var again = Assert.Single(await b.ReceiveAsync("p", 10, 3000, 60_000, 10, true));
        Assert.Equal(("e2", 2), (again.EventId, again.Attempts));
    }

    [Fact]
    public async Task Receive_OnTwoNodesAtOnce_LocksEveryDeliveryOnce()
    {
        await using var a = OpenNode();
        await using var b = OpenNode();
        var ids = Enumerable.Range(0, 40).Select(i => "e" + i).ToList();
        await a.EnqueueAsync([.. ids.Select(id => Delivery("p", id))]);
        await Eventually.WaitUntilAsync(async () => await b.CountAsync("p") == (40, 0), Deadline, "B sees every delivery");

        async Task<List<string>> DrainAsync(JetStreamRoutingStore store)
        {
            var got = new List<string>();
            for (int i = 0; i < 40; i++)
            {
                got.AddRange((await store.ReceiveAsync("p", 3, 1000, 60_000, 10, true)).Select(r => r.EventId));
            }

            return got;
        }

        var both = await Task.WhenAll(DrainAsync(a), DrainAsync(b));
        var all = both[0].Concat(both[1]).ToList();
        Assert.Equal(ids.Order(), all.Order());
    }

    [Fact]
    public async Task Claim_SameDueDeliveriesOnTwoNodes_EachClaimedOnceAndTheLoserCannotDelete()
    {
        await using var a = OpenNode();
        await using var b = OpenNode();
        await a.EnqueueAsync([Delivery("w", "e1"), Delivery("w", "e2")]);
        await Eventually.WaitUntilAsync(async () => (await b.GetDueAsync("w", 1000, 10)).Count == 2, Deadline, "B sees both deliveries");
        var dueOnA = await a.GetDueAsync("w", 1000, 10);
        var dueOnB = await b.GetDueAsync("w", 1000, 10);

        var claimedByA = await a.ClaimAsync(dueOnA, 1000, 30_000);
        var claimedByB = await b.ClaimAsync(dueOnB, 1000, 30_000);

        Assert.Equal(2, claimedByA.Count);
        Assert.Empty(claimedByB);
        Assert.Empty(await a.GetDueAsync("w", 1000, 10));

        // B's records are from before A's claim: B's delete is refused, A's goes through.
        Assert.Equal(0, await b.DeleteAsync(dueOnB));
        Assert.Equal(2, await a.DeleteAsync(claimedByA));
        Assert.Equal((0L, 0L), await a.CountAsync("w"));
    }

    [Fact]
    public async Task DeletedDefinition_DeliveriesLeftByACrash_PurgedWhenANodeStarts()
    {
        await using (var first = OpenNode())
        {
            await first.SaveDefinitionAsync("subscriptions", "gone", Subscription("gone"));
            await first.SaveDefinitionAsync("subscriptions", "kept", Subscription("kept"));
            await first.EnqueueAsync([Delivery("gone", "e1"), Delivery("kept", "e2")]);

            // A crash between the two steps of a deletion: the definition went, its deliveries did not.
            var (_, kv) = Connect();
            var definitions = await kv.GetStoreAsync(first.DefinitionsBucket);
            await definitions.DeleteAsync("subscriptions.gone");
            Assert.Equal((1L, 0L), await first.CountAsync("gone"));
        }

        await using var restarted = OpenNode();
        using var registry = new EventSubscriptionRegistry(restarted);
        using var routes = new RouteTable(restarted, [], [], defaultRoute: false);
        using var follower = new RoutingDefinitionFollower(restarted, routes, registry, TimeProvider.System, NullLogger<RoutingDefinitionFollower>.Instance);
        await follower.StartAsync(CancellationToken.None);
        try
        {
            Assert.True(registry.TryGet("kept", out _));
            Assert.Equal((0L, 0L), await restarted.CountAsync("gone"));
            Assert.Equal((1L, 0L), await restarted.CountAsync("kept"));
        }
        finally
        {
            await follower.StopAsync(CancellationToken.None);
        }

        await using var another = OpenNode();
        Assert.Equal((0L, 0L), await another.CountAsync("gone"));
    }

    [Fact]
    public async Task Follower_AnotherNodesSubscriptionChanges_AppliedInOrder()
    {
        await using var a = OpenNode();
        await using var b = OpenNode();
        using var onA = new EventSubscriptionRegistry(a);
        using var onB = new EventSubscriptionRegistry(b);
        using var routes = new RouteTable(b, [], [], defaultRoute: false);
        using var follower = new RoutingDefinitionFollower(b, routes, onB, TimeProvider.System, NullLogger<RoutingDefinitionFollower>.Instance);
        var changes = new List<(string? Previous, string? Current)>();
        onB.Changed += (previous, current) =>
        {
            lock (changes)
            {
                changes.Add((previous?.Definition.Filter.TopicFilter, current?.Definition.Filter.TopicFilter));
            }
        };
        await follower.StartAsync(CancellationToken.None);
        try
        {
            await onA.UpsertAsync(Parse(Subscription("s", "a/#")));
            await onA.UpsertAsync(Parse(Subscription("s", "b/#")));
            await Eventually.WaitUntilAsync(() => onB.TryGet("s", out var s) && s.Definition.Filter.TopicFilter == "b/#", Deadline, "B has A's second version");
            await onA.DeleteAsync("s");
            await Eventually.WaitUntilAsync(() => !onB.TryGet("s", out _), Deadline, "B dropped the subscription A deleted");
            lock (changes)
            {
                Assert.Equal([(null, "a/#"), ("a/#", "b/#"), ("b/#", null)], changes);
            }
        }
        finally
        {
            await follower.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task SweepDeleteMarkers_TwoSweeps_DeliveredEventsLeaveNothing_ALongLivedDeadLetterStays()
    {
        await using var store = OpenNode();
        await store.EnqueueAsync([Delivery("s", "e1"), Delivery("s", "e2"), Delivery("s", "e3")]);
        var due = await store.GetDueAsync("s", 1000, 10);
        await store.DeadLetterAsync([due[2]], 1, DeadLetterReasons.DestinationRejected, "HTTP 400", 2000);
        Assert.Equal(2, await store.DeleteAsync([due[0], due[1]]));
        var (js, _) = Connect();
        var stream = "KV_" + store.DeliveriesBucket;
        var last = (await js.GetStreamAsync(stream)).Info.State.LastSeq;
        await Eventually.WaitUntilAsync(() => store.WatchedRevision >= last, Deadline, "the watch has seen every write");
        Assert.Equal(3L, (await js.GetStreamAsync(stream)).Info.State.Messages);

        // The first sweep marks; what was written before it goes at the second.
        await store.SweepDeleteMarkersAsync(CancellationToken.None);
        await store.EnqueueAsync([Delivery("s", "e4")]);
        await store.SweepDeleteMarkersAsync(CancellationToken.None);

        // The dead letter (written again) and the pending e4 are all that is left.
        Assert.Equal(2L, (await js.GetStreamAsync(stream)).Info.State.Messages);
        await using var another = OpenNode();
        Assert.Equal((1L, 1L), await another.CountAsync("s"));
        Assert.Equal(("e3", DeadLetterReasons.DestinationRejected), Assert.Single(await another.ListDeadLettersAsync("s", 10)) is var d ? (d.EventId, d.Reason) : default);
        Assert.Equal("e4", Assert.Single(await another.GetDueAsync("s", 1000, 10)).EventId);
    }

    private static string Subscription(string name, string filter = "devices/#") =>
        $$$"""{"name":"{{{name}}}","filter":{"topicFilter":"{{{filter}}}"},"destination":{"kind":"pull"}}""";

    private static EventSubscriptionDefinition Parse(string json) =>
        System.Text.Json.JsonSerializer.Deserialize<EventSubscriptionDefinition>(json, RoutingJson.Options)!;
}
