using Iot.Routing.Commands;
using Iot.Routing.Queues;
using Iot.Routing.Queues.JetStream;
using Iot.TestUtilities.Nats;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Tests.Commands;

/// <summary>
/// The command-store contract on a real nats-server (records in a key-value bucket, messages in the JetStream queue
/// store), and what only a shared store must do: two stores on two connections are two nodes.
/// </summary>
[Trait("Category", "Integration")]
public sealed class JetStreamCommandStoreTests : CommandStoreContractTests, IClassFixture<JetStreamCommandStoreTests.NatsServer>
{
    private const string Device = "dev-1";

    private readonly NatsServer _server;
    private readonly string _prefix = "t" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<NatsConnection> _connections = [];
    private readonly List<JetStreamQueueStore> _queueStores = [];

    public JetStreamCommandStoreTests(NatsServer server) => _server = server;

    private protected override (IQueueStore Queues, ICommandStore Commands) CreateStores() => NewNode();

    public override async Task DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var store in _queueStores)
        {
            await store.DisposeAsync();
        }

        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }
    }

    [Fact]
    public async Task Answer_OnTwoNodesAtOnce_RecordedOnce()
    {
        var (_, b) = NewNode();
        var commandIds = Enumerable.Range(0, 10).Select(i => $"c{i}").ToArray();
        foreach (var id in commandIds)
        {
            await CreateAsync(Record(id, "m-" + id));
        }

        var answers = await Task.WhenAll(commandIds.SelectMany(id => new[]
        {
            Store.AnswerAsync(id, Device, CommandStatus.Completed, "a"u8.ToArray(), null, 1, null),
            b.AnswerAsync(id, Device, CommandStatus.Failed, "b"u8.ToArray(), null, 2, null),
        }));

        // Each command has exactly one outcome, that of the node whose compare-and-set won.
        Assert.Equal(commandIds.Length, answers.Count(a => a));
        for (var i = 0; i < commandIds.Length; i++)
        {
            var record = await b.GetAsync(commandIds[i]);
            var winner = answers[2 * i] ? (CommandStatus.Completed, "a") : (CommandStatus.Failed, "b");
            Assert.Equal(winner, (record!.Status, System.Text.Encoding.UTF8.GetString(record.Answer!)));
        }
    }

    [Fact]
    public async Task Create_SameMessageIdThroughTwoNodes_OneCommand()
    {
        var (_, b) = NewNode();
        var (first, _) = await CreateAsync(Record("c1", "m1"));
        var (second, duplicate) = await b.CreateAsync(Record("c2", "m1"), Time.GetUtcNow().ToUnixTimeMilliseconds() - 10_000, MessageFor);

        Assert.True(duplicate);
        Assert.Equal((first.CommandId, first.SequenceNumber), (second.CommandId, second.SequenceNumber));
        Assert.Single(await Queues.PeekAsync(CommandService.QueueName, 0, 10, deadLetterQueue: false));
    }

    [Fact]
    public async Task WaitForFinal_AnsweredOnAnotherNode_Completes()
    {
        var (_, b) = NewNode();
        await CreateAsync(Record("c1", "m1"));
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var waiting = Store.WaitForFinalAsync("c1", cancel.Token);
        Assert.False(waiting.IsCompleted);

        Assert.True(await b.AnswerAsync("c1", Device, CommandStatus.Completed, "a"u8.ToArray(), null, 1, null));

        var final = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(cancel.IsCancellationRequested);
        Assert.Equal(CommandStatus.Completed, final?.Status);
    }

    [Fact]
    public async Task Create_RetryAfterACrashBetweenMessageAndRecord_RecordsTheFirstMessage()
    {
        // The state a crash leaves between a command's queue message and its record (its record removed by hand): the
        // sender's retry with the same message id finds the claimed id, and records the message already sent.
        var (created, _) = await CreateAsync(Record("c1", "m1"));
        var connection = _server.Cluster.CreateConnection(0);
        _connections.Add(connection);
        var bucket = await new NatsKVContext(new NatsJSContext(connection)).GetStoreAsync(_prefix + "-commands");
        await bucket.DeleteAsync("c." + Convert.ToBase64String("c1"u8.ToArray()).TrimEnd('='));
        Assert.Null(await Store.GetAsync("c1"));

        var (retried, duplicate) = await CreateAsync(Record("c2", "m1"));

        Assert.True(duplicate);
        Assert.Equal(("c1", created.SequenceNumber), (retried.CommandId, retried.SequenceNumber));
        Assert.Equal(("m1", created.SequenceNumber), ((await Store.GetAsync("c1"))!.MessageId, (await Store.GetAsync("c1"))!.SequenceNumber));
        Assert.Single(await Queues.PeekAsync(CommandService.QueueName, 0, 10, deadLetterQueue: false));
    }

    [Fact]
    public async Task SessionMessageArrived_SendThroughAnotherNode_RaisedWithTheDevice()
    {
        var (bQueues, _) = NewNode();
        await ((JetStreamQueueStore)bQueues).StartAsync();
        var arrived = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        ((IQueueArrivals)bQueues).SessionMessageArrived += (queue, session) =>
        {
            if (queue == CommandService.QueueName)
            {
                arrived.TrySetResult(session);
            }
        };

        await CreateAsync(Record("c1", "m1", device: "dev-7"));

        Assert.Equal("dev-7", await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    private (IQueueStore Queues, ICommandStore Commands) NewNode()
    {
        var connection = _server.Cluster.CreateConnection(0);
        _connections.Add(connection);
        var kv = new NatsKVContext(new NatsJSContext(connection));
        var queues = new JetStreamQueueStore(kv, replicas: 1, Time, prefix: _prefix);
        _queueStores.Add(queues);
        return (queues, new JetStreamCommandStore(kv, queues, replicas: 1, Time, prefix: _prefix));
    }

    public sealed class NatsServer : IAsyncLifetime
    {
        private NatsClusterFixture? _cluster;

        public NatsClusterFixture Cluster => _cluster ?? throw new InvalidOperationException("not started");

        public async Task InitializeAsync() => _cluster = await NatsClusterFixture.StartAsync(servers: 1);

        public async Task DisposeAsync()
        {
            if (_cluster is not null)
            {
                await _cluster.DisposeAsync();
            }
        }
    }
}
