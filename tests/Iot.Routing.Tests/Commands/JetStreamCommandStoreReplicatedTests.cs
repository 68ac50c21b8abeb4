using Iot.Routing.Commands;
using Iot.Routing.Queues;
using Iot.Routing.Queues.JetStream;
using Iot.TestUtilities.Nats;
using Microsoft.Extensions.Time.Testing;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Tests.Commands;

/// <summary>
/// Answers on three replicas (nats-server 2.9 checks a key-value update's expected revision only before proposing it
/// in a clustered stream, see KeyValueCompareAndSet): four nodes answering the same commands at once record one
/// outcome per command.
/// </summary>
[Trait("Category", "Integration")]
public sealed class JetStreamCommandStoreReplicatedTests : IAsyncLifetime
{
    private const string Device = "dev-1";
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
    private readonly string _prefix = "r" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<NatsConnection> _connections = [];
    private readonly List<JetStreamQueueStore> _queueStores = [];
    private NatsClusterFixture _nats = null!;

    public async Task InitializeAsync() => _nats = await NatsClusterFixture.StartAsync(servers: 3);

    public async Task DisposeAsync()
    {
        foreach (var store in _queueStores)
        {
            await store.DisposeAsync();
        }

        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }

        await _nats.DisposeAsync();
    }

    [Fact]
    public async Task Answer_FourNodesAtOnce_OneOutcomePerCommand()
    {
        var nodes = Enumerable.Range(0, 4).Select(i => NewNode(i % 3)).ToList();
        await nodes[0].Queues.CreateOrUpdateQueueAsync(new QueueProperties { Name = CommandService.QueueName, RequiresSession = true });
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var commandIds = Enumerable.Range(0, 30).Select(i => $"c{i}").ToArray();
        foreach (var id in commandIds)
        {
            await nodes[0].Commands.CreateAsync(new CommandRecord
            {
                CommandId = id, DeviceId = Device, Name = "reboot", MessageId = "m-" + id, CreatedAt = now, UpdatedAt = now, ExpiresAt = now + 60_000,
            }, now - 10_000, r => new QueueMessage { Body = "x"u8.ToArray(), SessionId = r.DeviceId });
        }

        foreach (var node in nodes)
        {
            await node.Queues.StartAsync();
        }

        var answers = await Task.WhenAll(commandIds.SelectMany(id => nodes.Select((node, n) =>
            node.Commands.AnswerAsync(id, Device, CommandStatus.Completed, [(byte)('0' + n)], null, now, null))));

        Assert.Equal(commandIds.Length, answers.Count(a => a));
        for (var i = 0; i < commandIds.Length; i++)
        {
            var winner = Enumerable.Range(0, nodes.Count).Single(n => answers[(i * nodes.Count) + n]);
            var record = await nodes[3].Commands.GetAsync(commandIds[i]);
            Assert.Equal((CommandStatus.Completed, (byte)('0' + winner)), (record!.Status, record.Answer![0]));
        }
    }

    private (JetStreamQueueStore Queues, JetStreamCommandStore Commands) NewNode(int server)
    {
        var connection = _nats.CreateConnection(server);
        _connections.Add(connection);
        var kv = new NatsKVContext(new NatsJSContext(connection));
        var queues = new JetStreamQueueStore(kv, replicas: 3, _time, prefix: _prefix);
        _queueStores.Add(queues);
        return (queues, new JetStreamCommandStore(kv, queues, replicas: 3, _time, prefix: _prefix));
    }
}
