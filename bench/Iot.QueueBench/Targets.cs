using Iot.Routing.Queues;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using NATS.Net;

namespace Iot.QueueBench;

/// <summary>The platform's queue: <see cref="SqliteQueueStore"/> in a fresh temp directory (WAL, synchronous=FULL).</summary>
internal sealed class IotQueueTarget : IQueueTarget, IAsyncDisposable
{
    private readonly SqliteQueueStore _store;

    public IotQueueTarget()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"iot-queuebench-{Guid.NewGuid():N}");
        _store = new SqliteQueueStore(Path.Combine(directory, "queues.db"), TimeProvider.System);
        _store.CreateOrUpdateQueueAsync(new QueueProperties { Name = "bench" }).GetAwaiter().GetResult();
    }

    public string Name => "Iot SqliteQueueStore";

    public Task SendAsync(byte[] body) => _store.SendAsync("bench", [new QueueMessage { Body = body }]);

    public async Task<IReadOnlyList<object>> ReceiveAsync(int max) =>
        [.. await _store.ReceiveAsync("bench", new ReceiveRequest { MaxMessages = max })];

    public Task CompleteAsync(object message) => _store.CompleteAsync("bench", ((ReceivedQueueMessage)message).LockToken!);

    public ValueTask DisposeAsync() => _store.DisposeAsync();
}

/// <summary>NATS JetStream: a file-backed work-queue stream, a durable pull consumer with explicit, confirmed acks.</summary>
internal sealed class NatsQueueTarget : IQueueTarget, IAsyncDisposable
{
    private readonly NatsClient _client;
    private readonly INatsJSContext _js;
    private INatsJSConsumer _consumer = null!;

    private NatsQueueTarget(string url)
    {
        _client = new NatsClient(url);
        _js = _client.CreateJetStreamContext();
    }

    public string Name => "NATS JetStream (file storage, work queue)";

    public static async Task<NatsQueueTarget> CreateAsync(string url)
    {
        var target = new NatsQueueTarget(url);
        await target._js.CreateStreamAsync(new StreamConfig("BENCH", ["bench.q"])
        {
            Storage = StreamConfigStorage.File,
            Retention = StreamConfigRetention.Workqueue,
        });
        target._consumer = await target._js.CreateOrUpdateConsumerAsync("BENCH", new ConsumerConfig("workers")
        {
            AckPolicy = ConsumerConfigAckPolicy.Explicit,
            MaxAckPending = 100_000,
        });
        return target;
    }

    public async Task SendAsync(byte[] body) => (await _js.PublishAsync("bench.q", body)).EnsureSuccess();

    public async Task<IReadOnlyList<object>> ReceiveAsync(int max)
    {
        var batch = new List<object>(max);
        await foreach (var message in _consumer.FetchNoWaitAsync<byte[]>(new NatsJSFetchOpts { MaxMsgs = max }))
        {
            batch.Add(message);
        }

        return batch;
    }

    public Task CompleteAsync(object message) => ((NatsJSMsg<byte[]>)message).AckAsync(new AckOpts { DoubleAck = true }).AsTask();

    public ValueTask DisposeAsync() => _client.DisposeAsync();
}

/// <summary>The platform's cluster-mode queue: <see cref="Iot.Routing.Queues.JetStream.JetStreamQueueStore"/> on the NATS at the url.</summary>
internal sealed class JetStreamQueueTarget : IQueueTarget, IAsyncDisposable
{
    private readonly NatsClient _client;
    private readonly Iot.Routing.Queues.JetStream.JetStreamQueueStore _store;

    private JetStreamQueueTarget(string url, int replicas)
    {
        _client = new NatsClient(url);
        _store = new Iot.Routing.Queues.JetStream.JetStreamQueueStore(_client.CreateJetStreamContext().CreateKeyValueStoreContext(), replicas, TimeProvider.System,
            prefix: "bench" + Guid.NewGuid().ToString("N")[..6]);
    }

    public string Name => "Iot JetStreamQueueStore";

    public static async Task<JetStreamQueueTarget> CreateAsync(string url, int replicas)
    {
        var target = new JetStreamQueueTarget(url, replicas);
        await target._store.CreateOrUpdateQueueAsync(new QueueProperties { Name = "bench" });
        return target;
    }

    public Task SendAsync(byte[] body) => _store.SendAsync("bench", [new QueueMessage { Body = body }]);

    public async Task<IReadOnlyList<object>> ReceiveAsync(int max) =>
        [.. await _store.ReceiveAsync("bench", new ReceiveRequest { MaxMessages = max })];

    public Task CompleteAsync(object message) => _store.CompleteAsync("bench", ((ReceivedQueueMessage)message).LockToken!);

    public async ValueTask DisposeAsync()
    {
        await _store.DisposeAsync();
        await _client.DisposeAsync();
    }
}
