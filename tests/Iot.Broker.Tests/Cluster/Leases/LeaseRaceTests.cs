using Iot.Broker.Cluster.Leases;
using Iot.Messaging.Leases;
using Iot.TestUtilities.Nats;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Broker.Tests.Cluster.Leases;

/// <summary>
/// Several nodes taking one expired lease at the same moment, on a bucket with three replicas (where nats-server 2.9
/// alone lets concurrent compare-and-sets of one revision all succeed): exactly one node gets it, every time.
/// </summary>
[Trait("Category", "Integration")]
public sealed class LeaseRaceTests(ThreeNatsServers fixture) : IClassFixture<ThreeNatsServers>, IAsyncLifetime
{
    private const int Nodes = 4;
    private const int Rounds = 40;
    private static readonly LeaseSchedule Schedule = new(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2));
    private readonly string _bucket = "iot-leases-" + Guid.NewGuid().ToString("N")[..8];
    private readonly NatsConnection[] _connections = new NatsConnection[Nodes];
    private readonly KeyValueSingletonLeases[] _nodes = new KeyValueSingletonLeases[Nodes];
    private readonly FakeTimeProvider[] _clocks = [.. Enumerable.Range(0, Nodes).Select(_ => new FakeTimeProvider(DateTimeOffset.UtcNow))];

    public async Task InitializeAsync()
    {
        for (var i = 0; i < Nodes; i++)
        {
            _connections[i] = fixture.Nats.CreateConnection(i % fixture.Nats.ServerCount);
            await _connections[i].ConnectAsync();
            _nodes[i] = new KeyValueSingletonLeases(new NatsKVContext(new NatsJSContext(_connections[i])), "node-" + i, fixture.Nats.Replicas, Schedule,
                TimeSpan.FromSeconds(10), _clocks[i], new LeaseMetrics(), NullLogger.Instance, _bucket);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }

        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task ExpiredLease_AllNodesTakeItAtOnce_ExactlyOneGetsIt()
    {
        await (await _nodes[0].TryAcquireAsync("open"))!.DisposeAsync(); // creates the bucket
        var bucket = await new NatsKVContext(new NatsJSContext(_connections[0])).GetStoreAsync(_bucket);
        for (var round = 0; round < Rounds; round++)
        {
            // A dead node's record: every node sees it (and starts counting on its own clock), then its lease expires on
            // every node's clock at once, and they all take it over together.
            var name = "job-" + round;
            var dead = new LeaseRecord("node-dead", "instance-dead", DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, (long)Schedule.Duration.TotalMilliseconds);
            await bucket.PutAsync(LeaseRecord.Key(name), dead.ToJson());
            foreach (var node in _nodes)
            {
                Assert.Null(await node.TryAcquireAsync(name));
            }

            foreach (var clock in _clocks)
            {
                clock.Advance(Schedule.Duration);
            }

            var taken = await Task.WhenAll(_nodes.Select(n => n.TryAcquireAsync(name).AsTask()));
            var holders = taken.Count(l => l is not null);
            Assert.True(holders == 1, $"round {round}: {holders} nodes took the lease; tokens {string.Join(", ", taken.Select(l => l?.FencingToken))}");
            foreach (var lease in taken.Where(l => l is not null))
            {
                await lease!.DisposeAsync();
            }
        }
    }
}
