using System.Buffers.Binary;
using System.Diagnostics;

namespace Iot.LoadTool;

/// <summary>
/// QoS 1 latency at a fixed rate: one publisher paced by <see cref="Pacer"/> (default 2000 msg/s) stamps each payload
/// with its send time (Stopwatch ticks) and sequence number; one QoS 1 subscriber takes the difference on arrival.
/// The first <c>warmup</c> seconds of messages are sent but not measured. At most <c>window</c> PUBLISH packets are
/// un-acknowledged; a broker slower than the rate shows as a lower sent rate and as <c>late_sends</c>.
/// </summary>
internal static class LatencyScenario
{
    public const string Usage =
        "usage: Iot.LoadTool latency --port N [--host 127.0.0.1] [--rate 2000] [--payload 64] [--seconds 10] [--warmup 2] [--window 20] [--sub-port N] [--broker-pid N] [--metrics-url URL] [--dump FILE]";

    public static async Task<int> RunAsync(string[] args)
    {
        var arguments = new ScenarioArguments(args);
        var host = arguments.Text("host", "127.0.0.1");
        var port = arguments.Int("port", 1883);
        // The subscriber's broker: another node of a cluster (cross-node latency); default the publisher's.
        var subscriberPort = arguments.Int("sub-port", port);
        var rate = arguments.Int("rate", 2000);
        var payloadSize = Math.Max(16, arguments.Int("payload", 64));
        var seconds = arguments.Int("seconds", 10);
        var warmup = arguments.Int("warmup", 2);
        var window = arguments.Int("window", 20);
        var brokerPid = arguments.OptionalInt("broker-pid");
        var metricsUrl = arguments.Text("metrics-url", "") is { Length: > 0 } url ? new Uri(url) : null;
        using var http = metricsUrl is null ? null : new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var prefix = $"la{Environment.ProcessId}";
        var topic = $"bench/latency/{prefix}";
        var warmupCount = (long)warmup * rate;
        var measuredCount = (long)seconds * rate;

        using var stop = new CancellationTokenSource();
        var loops = new BackgroundLoops(stop.Token);
        var sink = new LatencySink(warmupCount, measuredCount, payloadSize);
        MqttConnection? subscriber = null;
        MqttConnection? publisher = null;
        try
        {
            // Blocking sockets on dedicated threads: a delivery wakes the thread that measures it (MqttConnection.Connect).
            subscriber = MqttConnection.Connect(host, subscriberPort, $"{prefix}-s");
            subscriber.Subscribe(topic, 1);
            sink.Connection = subscriber;
            var subscribed = subscriber;
            loops.WatchThread("latency subscriber", () => subscribed.ReadLoop(sink, sink.SendAcks));
            publisher = MqttConnection.Connect(host, port, $"{prefix}-p");
            var acks = new PubAckSink();
            var publishing = publisher;
            loops.WatchThread("publisher acks", () => publishing.ReadLoop(acks, acks.Flush));

            var pacing = new PacedPublisher(publisher, acks, topic, payloadSize, rate, window, warmupCount, measuredCount, brokerPid);
            // The broker's collections over the whole run (warm-up included: reading /metrics mid-run would disturb it).
            var gcBefore = await BrokerGc.ReadAsync(http, metricsUrl, stop.Token);
            var thread = new Thread(pacing.Run) { IsBackground = true, Name = "paced publisher", Priority = ThreadPriority.AboveNormal };
            thread.Start();
            await pacing.Done.Task;

            // Everything was sent: wait (up to 5 s) for the last deliveries.
            await Task.WhenAny(sink.AllReceived.Task, Task.Delay(TimeSpan.FromSeconds(5)));
            var gcAfter = await BrokerGc.ReadAsync(http, metricsUrl, stop.Token);
            if (arguments.Text("dump", "") is { Length: > 0 } dump)
            {
                sink.Dump(dump);
            }

            var latencies = sink.Latencies();
            var us = 1e6 / Stopwatch.Frequency;
            double? Percentile(double p) => latencies.Length == 0 ? null : latencies[Math.Min(latencies.Length - 1, (int)(p * latencies.Length))] * us;
            var elapsed = Stopwatch.GetElapsedTime(pacing.Start.Timestamp, pacing.End.Timestamp).TotalSeconds;

            var line = new ResultLine("latency")
                .Add("qos", 1).Add("rate", rate).Add("payload", payloadSize).Add("seconds", elapsed, "F2")
                .Add("sent", measuredCount).Add("delivered", latencies.Length).Add("msgs_per_s", measuredCount / elapsed, "F0")
                .Add("p50_us", Percentile(0.50), "F0").Add("p90_us", Percentile(0.90), "F0").Add("p99_us", Percentile(0.99), "F0")
                .Add("p999_us", Percentile(0.999), "F0").Add("max_us", latencies.Length == 0 ? null : latencies[^1] * us, "F0")
                .Add("late_sends", pacing.LateSends).Add("window_waits", pacing.WindowWaits).Add("warmup_window_waits", pacing.WarmupWindowWaits)
                .AddCpu(pacing.Start, pacing.End, measuredCount)
                .Add("broker_gcs", (double?)(gcAfter?.Collections - gcBefore?.Collections), "F0")
                .Add("broker_gc_pause_ms", (gcAfter?.PauseSeconds - gcBefore?.PauseSeconds) * 1000, "F1")
                .Add("broker_alloc_b_per_msg", (double?)(gcAfter?.AllocatedBytes - gcBefore?.AllocatedBytes) / (warmupCount + measuredCount), "F0")
                .Add("lost", measuredCount - latencies.Length).Add("duplicates", sink.Duplicates)
                .Add("errors", loops.Errors + pacing.Errors).Add("malformed", sink.Malformed);
            Console.WriteLine(line);
            return loops.Errors > 0 || pacing.Errors > 0 || sink.Malformed > 0 || latencies.Length == 0 ? 1 : 0;
        }
        finally
        {
            await stop.CancelAsync();
            subscriber?.Dispose();
            publisher?.Dispose();
            await loops.WhenAllAsync();
        }
    }

    /// <summary>The publisher's dedicated thread: one PUBLISH per tick of the schedule, stamped just before it is written.</summary>
    private sealed class PacedPublisher
    {
        private readonly MqttConnection _connection;
        private readonly PubAckSink _acks;
        private readonly int _rate;
        private readonly int _window;
        private readonly long _warmupCount;
        private readonly long _measuredCount;
        private readonly int? _brokerPid;
        private readonly byte[] _packet;
        private readonly int _idOffset;
        private readonly int _payloadOffset;

        public PacedPublisher(
            MqttConnection connection, PubAckSink acks, string topic, int payloadSize, int rate, int window, long warmupCount, long measuredCount, int? brokerPid)
        {
            _connection = connection;
            _acks = acks;
            _rate = rate;
            _window = window;
            _warmupCount = warmupCount;
            _measuredCount = measuredCount;
            _brokerPid = brokerPid;
            _packet = MqttWire.Publish(topic, 1, retain: false, new byte[payloadSize], out _idOffset, out _payloadOffset);
        }

        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CpuSample Start { get; private set; }

        public CpuSample End { get; private set; }

        public long LateSends { get; private set; }

        /// <summary>Sleeps of 50 µs for a full window of un-acknowledged messages, in the measured part.</summary>
        public long WindowWaits { get; private set; }

        /// <summary>The same during the warm-up (a broker that compiles its code as it goes stalls there).</summary>
        public long WarmupWindowWaits { get; private set; }

        public int Errors { get; private set; }

        public void Run()
        {
            try
            {
                var interval = (double)Stopwatch.Frequency / _rate;
                var lateTicks = Stopwatch.Frequency / 1000;
                var origin = Stopwatch.GetTimestamp();
                ushort packetId = 0;
                for (long seq = 0; seq < _warmupCount + _measuredCount; seq++)
                {
                    var due = origin + (long)(seq * interval);
                    Pacer.SleepUntil(due);
                    while (seq - _acks.Acked >= _window)
                    {
                        if (seq >= _warmupCount)
                        {
                            WindowWaits++;
                        }
                        else
                        {
                            WarmupWindowWaits++;
                        }

                        Pacer.SleepUntil(Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 20_000));
                    }

                    if (seq == _warmupCount)
                    {
                        Start = CpuSample.Take(_brokerPid);
                    }

                    packetId = packetId == ushort.MaxValue ? (ushort)1 : (ushort)(packetId + 1);
                    BinaryPrimitives.WriteUInt16BigEndian(_packet.AsSpan(_idOffset), packetId);
                    BinaryPrimitives.WriteInt64LittleEndian(_packet.AsSpan(_payloadOffset + 8), seq);
                    var now = Stopwatch.GetTimestamp();
                    if (seq >= _warmupCount && now - due > lateTicks)
                    {
                        LateSends++;
                    }

                    BinaryPrimitives.WriteInt64LittleEndian(_packet.AsSpan(_payloadOffset), now);
                    _connection.Send(_packet);
                }

                End = CpuSample.Take(_brokerPid);
            }
            catch (Exception ex) when (ex is System.Net.Sockets.SocketException or ObjectDisposedException)
            {
                Errors++;
                Console.Error.WriteLine($"publisher error: {ex.Message}");
                End = CpuSample.Take(_brokerPid);
            }

            Done.TrySetResult();
        }
    }

    /// <summary>
    /// Takes the latency of every measured delivery (indexed by sequence number) and PUBACKs each batch. Runs on the
    /// subscriber's dedicated thread (<see cref="MqttConnection.ReadLoop"/>), which sends the PUBACKs itself.
    /// </summary>
    private sealed class LatencySink(long warmupCount, long measuredCount, int payloadSize) : IPacketSink
    {
        private readonly long[] _latencies = CreateSlots(measuredCount);
        private byte[] _acks = new byte[16 * 1024];
        private int _ackLength;
        private long _received;

        public MqttConnection? Connection { get; set; }

        public TaskCompletionSource AllReceived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long Malformed { get; private set; }

        public long Duplicates { get; private set; }

        public void OnPacket(byte header, ReadOnlySpan<byte> body)
        {
            if (header >> 4 != MqttWire.PublishType)
            {
                return;
            }

            var arrived = Stopwatch.GetTimestamp();
            var topicLength = BinaryPrimitives.ReadUInt16BigEndian(body);
            var packetId = BinaryPrimitives.ReadUInt16BigEndian(body[(2 + topicLength)..]);
            var payload = body[(2 + topicLength + 2)..];
            AddAck(packetId);
            if (payload.Length != payloadSize || !body[2..].StartsWith("bench/latency/"u8))
            {
                Malformed++;
                return;
            }

            var sentAt = BinaryPrimitives.ReadInt64LittleEndian(payload);
            var seq = BinaryPrimitives.ReadInt64LittleEndian(payload[8..]) - warmupCount;
            if (seq < 0)
            {
                return;
            }

            if (seq >= measuredCount)
            {
                Malformed++;
                return;
            }

            if (_latencies[seq] >= 0)
            {
                Duplicates++;
                return;
            }

            _latencies[seq] = arrived - sentAt;
            if (++_received == measuredCount)
            {
                AllReceived.TrySetResult();
            }
        }

        public ValueTask OnBatchEndAsync(CancellationToken cancellationToken)
        {
            SendAcks();
            return ValueTask.CompletedTask;
        }

        /// <summary>Sends the PUBACKs of the packets just read, blocking until the kernel took them.</summary>
        public void SendAcks()
        {
            if (_ackLength > 0 && Connection is { } connection)
            {
                var length = _ackLength;
                _ackLength = 0;
                connection.Send(_acks.AsSpan(0, length));
            }
        }

        /// <summary>Writes "sequence latency_us" per measured message, in sending order (for looking at when slow ones happen).</summary>
        public void Dump(string path)
        {
            var us = 1e6 / Stopwatch.Frequency;
            using var writer = new StreamWriter(path);
            for (var i = 0; i < _latencies.Length; i++)
            {
                writer.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{i} {(_latencies[i] < 0 ? -1 : _latencies[i] * us):F0}"));
            }
        }

        /// <summary>The measured latencies in Stopwatch ticks, sorted.</summary>
        public long[] Latencies()
        {
            var values = _latencies.Where(l => l >= 0).ToArray();
            Array.Sort(values);
            return values;
        }

        private static long[] CreateSlots(long count)
        {
            var slots = new long[count];
            Array.Fill(slots, -1);
            return slots;
        }

        private void AddAck(ushort packetId)
        {
            if (_ackLength + 4 > _acks.Length)
            {
                Array.Resize(ref _acks, _acks.Length * 2);
            }

            MqttWire.WritePubAck(_acks.AsSpan(_ackLength), packetId);
            _ackLength += 4;
        }
    }
}
