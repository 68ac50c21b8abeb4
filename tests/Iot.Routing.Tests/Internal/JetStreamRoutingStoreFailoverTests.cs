using System.Text;
using Iot.Routing.Internal;
using Iot.Routing.Internal.JetStream;
using Iot.TestUtilities.Nats;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Tests.Internal;

/// <summary>
/// The JetStream routing store across a <c>kill -9</c> of the NATS server that leads the deliveries bucket (three
/// servers, three replicas): every acknowledged enqueue is there afterwards, and locks taken before settle after.
/// </summary>
[Trait("Category", "Integration")]
public sealed class JetStreamRoutingStoreFailoverTests : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(45);
    private readonly string _bucket = "iot-routing-" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<NatsConnection> _connections = [];
    private NatsClusterFixture? _nats;

    private NatsClusterFixture Nats => _nats ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _nats = await NatsClusterFixture.StartAsync(servers: 3);

    public async Task DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }

        if (_nats is not null)
        {
            await _nats.DisposeAsync();
        }
    }

    [Fact]
    public async Task Kill9OfTheDeliveriesLeader_AcknowledgedEnqueuesStay_LocksTakenBeforeSettleAfter()
    {
        await using var store = Open();
        var acknowledged = new List<string>();
        for (int i = 0; i < 20; i++)
        {
            await store.EnqueueAsync([Delivery("e" + i)]);
            acknowledged.Add("e" + i);
        }

        var locked = await store.ReceiveAsync("p", 5, 1000, 60_000, 10, true);
        Assert.Equal(5, locked.Count);

        await Nats.KillAsync(await Nats.StreamLeaderAsync("KV_" + store.DeliveriesBucket));

        // Enqueues go on once a new leader is elected; one that failed was not acknowledged (and may or may not be there).
        for (int i = 20; i < 30; i++)
        {
            await RetryAsync(() => store.EnqueueAsync([Delivery("e" + i)]));
            acknowledged.Add("e" + i);
        }

        var settled = await RetryAsync(() => store.AcknowledgeAsync("p", [.. locked.Select(r => r.LockToken!)], 2000));
        Assert.Equal(5, settled.Succeeded.Count);

        // A node that starts now (a fresh view from the bucket) has every acknowledged event but the five settled.
        await using var fresh = Open();
        var left = (await fresh.GetDueAsync("p", 1000, 100)).Select(r => r.EventId).ToHashSet();
        var expected = acknowledged.Except(locked.Select(r => r.EventId)).ToList();
        Assert.All(expected, id => Assert.Contains(id, left));
        Assert.DoesNotContain(locked[0].EventId, left);
    }

    private JetStreamRoutingStore Open()
    {
        var connection = Nats.CreateConnection();
        _connections.Add(connection);
        var js = new NatsJSContext(connection);
        return new JetStreamRoutingStore(js, new NatsKVContext(js), Nats.Replicas, TimeProvider.System, bucket: _bucket);
    }

    private static PendingDelivery Delivery(string id) => new("p", id, Encoding.UTF8.GetBytes($$"""{"id":"{{id}}"}"""), 1000, 61_000);

    // While JetStream elects a new leader its API times out or answers 503: the operation failed, try it again.
    private static async Task<T> RetryAsync<T>(Func<Task<T>> operation)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            try
            {
                return await operation();
            }
            catch (Exception ex) when (ex is NatsException or OperationCanceledException or TimeoutException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200));
            }
        }
    }
}
