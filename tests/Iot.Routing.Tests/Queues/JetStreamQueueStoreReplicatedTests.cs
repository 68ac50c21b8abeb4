using Iot.Routing.Queues;
using Iot.Routing.Queues.JetStream;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Tests.Queues;

/// <summary>
/// The JetStream queue store on buckets with three replicas (three nats-servers), where nats-server 2.9 by itself lets
/// concurrent compare-and-sets of one revision all succeed: four nodes, each on its own server, receiving from one
/// queue at once still lock each message once.
/// </summary>
[Trait("Category", "Integration")]
public sealed class JetStreamQueueStoreReplicatedTests : IClassFixture<ThreeNatsServers>, IAsyncLifetime
{
    private const int Nodes = 4;
    private const int Messages = 200;
    private readonly ThreeNatsServers _servers;
    private readonly string _prefix = "r" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<NatsConnection> _connections = [];
    private readonly List<JetStreamQueueStore> _nodes = [];

    public JetStreamQueueStoreReplicatedTests(ThreeNatsServers servers) => _servers = servers;

    public async Task InitializeAsync()
    {
        for (var i = 0; i < Nodes; i++)
        {
            var connection = _servers.Nats.CreateConnection(i % _servers.Nats.ServerCount);
            _connections.Add(connection);
            var node = new JetStreamQueueStore(new NatsKVContext(new NatsJSContext(connection)), _servers.Nats.Replicas, TimeProvider.System, prefix: _prefix);
            _nodes.Add(node);
            if (i == 0)
            {
                await node.StartAsync();
                await node.CreateOrUpdateQueueAsync(new QueueProperties { Name = "q" });
            }
        }

        foreach (var node in _nodes.Skip(1))
        {
            await node.StartAsync();
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
    public async Task FourNodesReceivingAtOnce_EachMessageLockedOnce()
    {
        var sent = new List<SendResult>();
        foreach (var chunk in Enumerable.Range(0, Messages).Chunk(50))
        {
            sent.AddRange(await _nodes[0].SendAsync("q", [.. chunk.Select(i => new QueueMessage { Body = BitConverter.GetBytes(i) })]));
        }

        foreach (var node in _nodes)
        {
            await Eventually.WaitUntilAsync(async () => (await node.GetStatisticsAsync("q")).Active == Messages, TimeSpan.FromSeconds(30),
                "every node sees every message");
        }

        var received = await Task.WhenAll(_nodes.Select(DrainAsync));
        var locked = received.SelectMany(r => r).GroupBy(m => m.SequenceNumber).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key} x{g.Count()}").ToList();
        Assert.True(locked.Count == 0, "locked more than once: " + string.Join(", ", locked));
        Assert.Equal(sent.Select(s => s.SequenceNumber).Order(), received.SelectMany(r => r).Select(m => m.SequenceNumber).Order());
    }

    private static async Task<List<ReceivedQueueMessage>> DrainAsync(JetStreamQueueStore node)
    {
        var received = new List<ReceivedQueueMessage>();
        while (true)
        {
            var batch = await node.ReceiveAsync("q", new ReceiveRequest { MaxMessages = 1 });
            if (batch.Count == 0)
            {
                return received;
            }

            received.AddRange(batch);
        }
    }
}
