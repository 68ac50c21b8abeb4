using System.Buffers.Binary;
using System.Diagnostics;

namespace Iot.LoadTool;

/// <summary>
/// Retained messages at scale: <c>publishers</c> clients publish N retained QoS 1 messages on distinct topics
/// <c>bench/retained/{run}/{i/1000}/{i%1000}</c> (at most <c>window</c> un-acknowledged each), then a QoS 0 subscriber
/// on <c>bench/retained/{run}/#</c> is timed until the last retained message arrives (or nothing came for
/// <c>quiet</c> seconds), then one on <c>bench/retained/{run}/42/+</c>. Reports the publish rate, both times, how
/// many arrived and the broker's RSS growth; finally clears the topics (empty retained payloads) unless <c>--clear 0</c>.
/// </summary>
internal static class RetainedScenario
{
    public const string Usage =
        "usage: Iot.LoadTool retained --port N [--host 127.0.0.1] [--count 100000] [--publishers 10] [--window 20] [--payload 64] [--quiet 3] [--clear 1] [--broker-pid N]";

    public static async Task<int> RunAsync(string[] args)
    {
        var arguments = new ScenarioArguments(args);
        var host = arguments.Text("host", "127.0.0.1");
        var port = arguments.Int("port", 1883);
        var count = arguments.Int("count", 100_000);
        var publishers = arguments.Int("publishers", 10);
        var window = arguments.Int("window", 20);
        var payloadSize = arguments.Int("payload", 64);
        var quiet = arguments.Int("quiet", 3);
        var clear = arguments.Int("clear", 1) != 0;
        var brokerPid = arguments.OptionalInt("broker-pid");
        var run = $"rt{Environment.ProcessId}";
        var root = $"bench/retained/{run}";

        using var stop = new CancellationTokenSource();
        var loops = new BackgroundLoops(stop.Token);
        var connections = new List<MqttConnection>();
        try
        {
            var payload = new byte[payloadSize];
            payload.AsSpan().Fill((byte)'r');
            var rssBefore = ProcessMemory.RssBytes(brokerPid);
            var start = CpuSample.Take(brokerPid);
            await PublishAllAsync(host, port, $"{run}-p", root, payload, count, publishers, window, connections, loops, stop.Token);
            var end = CpuSample.Take(brokerPid);
            var publishSeconds = Stopwatch.GetElapsedTime(start.Timestamp, end.Timestamp).TotalSeconds;
            await Task.Delay(TimeSpan.FromSeconds(1));
            var rssAfter = ProcessMemory.RssBytes(brokerPid);

            var wide = await SubscribeAsync(host, port, $"{run}-sw", $"{root}/#", root, count, payloadSize, quiet, loops, stop.Token);
            var narrowExpected = Enumerable.Range(0, count).Count(i => i / 1000 == 42);
            var narrow = await SubscribeAsync(host, port, $"{run}-sn", $"{root}/42/+", root, narrowExpected, payloadSize, quiet, loops, stop.Token);
            var rssSubscribed = ProcessMemory.RssBytes(brokerPid);

            double? clearSeconds = null;
            if (clear)
            {
                var clearStart = Stopwatch.GetTimestamp();
                await PublishAllAsync(host, port, $"{run}-c", root, [], count, publishers, window, connections, loops, stop.Token);
                clearSeconds = Stopwatch.GetElapsedTime(clearStart).TotalSeconds;
            }

            var line = new ResultLine("retained")
                .Add("count", count).Add("publishers", publishers).Add("window", window).Add("payload", payloadSize)
                .Add("publish_seconds", publishSeconds, "F2").Add("msgs_per_s", count / publishSeconds, "F0")
                .Add("wildcard_received", wide.Received).Add("wildcard_ms", wide.Milliseconds, "F0")
                .Add("narrow_expected", narrowExpected).Add("narrow_received", narrow.Received).Add("narrow_ms", narrow.Milliseconds, "F1")
                .Add("rss_before_kb", rssBefore / 1024.0, "F0").Add("rss_after_kb", rssAfter / 1024.0, "F0").Add("rss_subscribed_kb", rssSubscribed / 1024.0, "F0")
                .Add("bytes_per_retained", (double?)(rssAfter - rssBefore) / count, "F0")
                .Add("clear_per_s", count / clearSeconds, "F0")
                .AddCpu(start, end, count)
                .Add("errors", loops.Errors).Add("malformed", wide.Malformed + narrow.Malformed);
            Console.WriteLine(line);
            return loops.Errors > 0 || wide.Malformed + narrow.Malformed > 0 ? 1 : 0;
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var connection in connections)
            {
                connection.Dispose();
            }

            await loops.WhenAllAsync();
        }
    }

    private static async Task PublishAllAsync(
        string host, int port, string idPrefix, string root, byte[] payload, int count, int publishers, int window,
        List<MqttConnection> connections, BackgroundLoops loops, CancellationToken ct)
    {
        var tasks = new List<Task>();
        for (var p = 0; p < publishers; p++)
        {
            var first = (long)count * p / publishers;
            var last = (long)count * (p + 1) / publishers;
            var connection = await MqttConnection.ConnectAsync(host, port, $"{idPrefix}{p}", ct);
            connections.Add(connection);
            var acks = new PubAckSink();
            loops.Watch(connection.ReadLoopAsync(acks, ct));
            var maxPacket = root.Length + 32 + payload.Length;
            tasks.Add(AckedPublisher.RunAsync(
                connection,
                acks,
                (index, packetId, destination) =>
                {
                    var i = first + index;
                    var packet = MqttWire.Publish($"{root}/{i / 1000}/{i % 1000}", 1, retain: true, payload, out var idOffset, out _);
                    BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(idOffset), packetId);
                    packet.CopyTo(destination);
                    return packet.Length;
                },
                maxPacket,
                window,
                last - first,
                ct));
        }

        await Task.WhenAll(tasks);
    }

    private static async Task<(long Received, double? Milliseconds, long Malformed)> SubscribeAsync(
        string host, int port, string clientId, string filter, string root, int expected, int payloadSize, int quietSeconds,
        BackgroundLoops loops, CancellationToken ct)
    {
        // Its own stop token: the subscriber is closed before the clearing publishes, which it would otherwise receive.
        using var done = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var ownLoops = new BackgroundLoops(done.Token);
        using var connection = await MqttConnection.ConnectAsync(host, port, clientId, ct);
        var sink = new RetainedSink(root, expected, payloadSize);
        var subscribed = Stopwatch.GetTimestamp();
        await connection.SendAsync(MqttWire.Subscribe(1, filter, 0), ct);
        ownLoops.Watch(connection.ReadLoopAsync(sink, done.Token));

        var lastCount = -1L;
        var quietSince = Stopwatch.GetTimestamp();
        while (!sink.Complete.Task.IsCompleted && ownLoops.Errors == 0)
        {
            await Task.WhenAny(sink.Complete.Task, Task.Delay(100, ct));
            var received = sink.Received;
            if (received != lastCount)
            {
                lastCount = received;
                quietSince = Stopwatch.GetTimestamp();
            }
            else if (Stopwatch.GetElapsedTime(quietSince).TotalSeconds >= quietSeconds)
            {
                break;
            }
        }

        await done.CancelAsync();
        await connection.SendAsync(MqttWire.Disconnect(), CancellationToken.None);
        connection.Dispose();
        await ownLoops.WhenAllAsync();
        for (var i = 0; i < ownLoops.Errors; i++)
        {
            loops.Fail(new IOException($"subscriber {clientId} failed"));
        }

        var last = sink.LastArrival;
        return (sink.Received, last == 0 ? null : (last - subscribed) * 1e3 / Stopwatch.Frequency, sink.Malformed);
    }

    /// <summary>Counts retained PUBLISH packets under the run's root (QoS 0, so nothing to acknowledge).</summary>
    private sealed class RetainedSink(string root, int expected, int payloadSize) : IPacketSink
    {
        private readonly byte[] _root = System.Text.Encoding.UTF8.GetBytes(root + "/");
        private long _received;
        private long _malformed;
        private long _lastArrival;

        public TaskCompletionSource Complete { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long Received => Volatile.Read(ref _received);

        public long Malformed => Volatile.Read(ref _malformed);

        public long LastArrival => Volatile.Read(ref _lastArrival);

        public void OnPacket(byte header, ReadOnlySpan<byte> body)
        {
            if (header >> 4 != MqttWire.PublishType)
            {
                return;
            }

            var topicLength = BinaryPrimitives.ReadUInt16BigEndian(body);
            var qos = (header >> 1) & 3;
            var payload = body[(2 + topicLength + (qos > 0 ? 2 : 0))..];
            if ((header & 1) == 0 || !body.Slice(2, topicLength).StartsWith(_root) || payload.Length != payloadSize)
            {
                Interlocked.Increment(ref _malformed);
                return;
            }

            Volatile.Write(ref _lastArrival, Stopwatch.GetTimestamp());
            if (Interlocked.Increment(ref _received) == expected)
            {
                Complete.TrySetResult();
            }
        }

        public ValueTask OnBatchEndAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
