using System.Buffers.Binary;
using System.Diagnostics;

namespace Iot.LoadTool;

/// <summary>Figures of one measured run.</summary>
internal sealed record LoadResult(
    long Delivered, double Seconds, double ToolCpuSeconds, double? BrokerCpuSeconds, long Lost, int Stalls, int Errors, long Malformed);

/// <summary>Sets up the connections of one scenario, drives the publishers and measures after the warm-up.</summary>
internal sealed class LoadRun : IDisposable
{
    private const int MaxBatch = 20;
    private const int MinBatch = 5;
    private const int MaxInflightPerPublisher = 20;
    private const int WindowPerConnection = 20;

    private readonly LoadOptions _options;
    private readonly List<MqttConnection> _connections = [];
    private readonly CancellationTokenSource _stop;
    private readonly BackgroundLoops _loops;
    private int _stalls;

    public LoadRun(LoadOptions options)
    {
        _options = options;
        _stop = new CancellationTokenSource();
        _loops = new BackgroundLoops(_stop.Token);
    }

    public async Task<LoadResult> RunAsync()
    {
        var fanin = _options.Scenario == "fanin";
        var publishers = fanin ? _options.Publishers : 1;
        var subscribers = fanin ? 1 : _options.Subscribers;
        var deliveriesPerMessage = subscribers;
        var window = new DeliveryWindow((long)WindowPerConnection * (fanin ? publishers : subscribers));
        var prefix = $"lt{Environment.ProcessId}";
        var ct = _stop.Token;
        var sinks = new List<SubscriberSink>();

        try
        {
            for (var i = 0; i < subscribers; i++)
            {
                var sub = await ConnectAsync($"{prefix}-s{i}", _options.SubscriberPort ?? _options.Port);
                await sub.SubscribeAsync(fanin ? "bench/fanin/#" : "bench/fanout/t", _options.Qos, ct);
                var sink = new SubscriberSink(sub, window, _options.Payload);
                sinks.Add(sink);
                Watch(sub.ReadLoopAsync(sink, ct));
            }

            if (_options.SubscriberPort is not null)
            {
                // Subscribed on another cluster node: give the subscription a moment to reach the publishers' node, or the
                // first messages find no interest, never arrive and hold the delivery window shut.
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }

            for (var i = 0; i < publishers; i++)
            {
                var pub = await ConnectAsync($"{prefix}-p{i}");
                PubAckSink? acks = null;
                if (_options.Qos == 1)
                {
                    acks = new PubAckSink();
                    Watch(pub.ReadLoopAsync(acks, ct));
                }

                var template = MqttWire.Publish(fanin ? $"bench/fanin/p{i}" : "bench/fanout/t", _options.Qos, _options.Payload, out var idOffset);
                Watch(PublishLoopAsync(pub, template, idOffset, deliveriesPerMessage, window, acks, ct));
            }

            Watch(WatchdogAsync(window, ct));

            await Task.Delay(TimeSpan.FromSeconds(_options.WarmupSeconds), ct);
            var received0 = window.Received;
            var lost0 = window.Lost;
            var start = CpuSample.Take(_options.BrokerPid);
            await Task.Delay(TimeSpan.FromSeconds(_options.Seconds), ct);
            var end = CpuSample.Take(_options.BrokerPid);
            var delivered = window.Received - received0;

            return new LoadResult(
                delivered,
                Stopwatch.GetElapsedTime(start.Timestamp, end.Timestamp).TotalSeconds,
                (end.ToolCpu - start.ToolCpu).TotalSeconds,
                end.BrokerCpuSeconds - start.BrokerCpuSeconds,
                window.Lost - lost0,
                Volatile.Read(ref _stalls),
                _loops.Errors,
                sinks.Sum(s => s.Malformed));
        }
        finally
        {
            await _stop.CancelAsync();
            window.Release();
            foreach (var connection in _connections)
            {
                connection.Dispose();
            }

            await _loops.WhenAllAsync();
        }
    }

    public void Dispose() => _stop.Dispose();

    /// <summary>Pipelines a template PUBLISH while the delivery window (and, at QoS 1, the PUBACK window) allows.</summary>
    internal static async Task PublishLoopAsync(
        MqttConnection connection, byte[] template, int idOffset, int deliveriesPerMessage, DeliveryWindow window, PubAckSink? acks, CancellationToken ct)
    {
        var batch = new byte[template.Length * MaxBatch];
        ushort nextId = 0;
        long sent = 0;
        while (!ct.IsCancellationRequested)
        {
            var count = Allowed(window, deliveriesPerMessage, acks, sent);
            if (count < MinBatch)
            {
                // Arm first, then look again, so a pulse between the check and the wait is not missed.
                var waitWindow = window.WaitAsync();
                var waitAcks = acks?.Progress.WaitAsync();
                if (Allowed(window, deliveriesPerMessage, acks, sent) < MinBatch)
                {
                    await (waitAcks is null ? waitWindow : Task.WhenAny(waitWindow, waitAcks)).WaitAsync(ct);
                }

                continue;
            }

            window.AddExpected((long)count * deliveriesPerMessage);
            for (var i = 0; i < count; i++)
            {
                var slot = batch.AsSpan(i * template.Length, template.Length);
                template.CopyTo(slot);
                if (idOffset >= 0)
                {
                    nextId = nextId == ushort.MaxValue ? (ushort)1 : (ushort)(nextId + 1);
                    BinaryPrimitives.WriteUInt16BigEndian(slot[idOffset..], nextId);
                }
            }

            sent += count;
            await connection.SendAsync(batch.AsMemory(0, count * template.Length), ct);
        }
    }

    private static int Allowed(DeliveryWindow window, int deliveriesPerMessage, PubAckSink? acks, long sent)
    {
        var count = Math.Min(MaxBatch, window.Available / deliveriesPerMessage);
        if (acks is not null)
        {
            count = Math.Min(count, MaxInflightPerPublisher - (sent - acks.Acked));
        }

        return (int)count;
    }

    /// <summary>Writes off deliveries after a second without progress, so a broker that drops messages cannot stall the run.</summary>
    private async Task WatchdogAsync(DeliveryWindow window, CancellationToken ct)
    {
        var lastReceived = -1L;
        var quietTicks = 0;
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        while (await timer.WaitForNextTickAsync(ct))
        {
            var received = window.Received;
            var outstanding = window.Expected - received - window.Lost;
            quietTicks = received == lastReceived && outstanding > 0 ? quietTicks + 1 : 0;
            lastReceived = received;
            if (quietTicks >= 4)
            {
                window.WriteOff(outstanding);
                Interlocked.Increment(ref _stalls);
                quietTicks = 0;
            }
        }
    }

    private async Task<MqttConnection> ConnectAsync(string clientId, int? port = null)
    {
        var connection = await MqttConnection.ConnectAsync(_options.Host, port ?? _options.Port, clientId, _stop.Token);
        _connections.Add(connection);
        return connection;
    }

    private void Watch(Task loop) => _loops.Watch(loop);
}
