using System.Buffers.Binary;
using System.Diagnostics;

namespace Iot.LoadTool;

/// <summary>
/// QoS 1 fan-in shaped as users run it (and as an independent load generator measured it in issue 17): N publishers
/// (default 50) each publish QoS 1 to <c>devices/{id}/telemetry</c> with at most <c>max-unacked</c> (32) PUBLISHes
/// without a PUBACK and at most <c>max-in-flight</c> (20) published but not yet received by the subscriber; one QoS 1
/// subscriber on <c>devices/+/telemetry</c> acknowledges everything. Every message carries its publisher and
/// sequence number, so after the measured interval the publishers stop, the subscriber drains, and loss is counted
/// exactly (sent minus distinct received), with duplicates and reordering. Reports delivered msg/s over the measured
/// interval and the broker's CPU per delivered message. With <c>--protocol 5</c> every client speaks MQTT 5 and the
/// subscriber announces a Receive Maximum of <c>--receive-maximum</c> (65535): the broker may then have every
/// message in flight to it instead of queueing behind a 3.1.1 client's fixed window (Mosquitto's default 20).
/// </summary>
internal static class TelemetryFanInScenario
{
    public const string Usage =
        "usage: Iot.LoadTool telemetry-fanin --port N [--host 127.0.0.1] [--publishers 50] [--max-unacked 32] [--max-in-flight 20] "
        + "[--payload 64] [--seconds 10] [--warmup 2] [--drain 15] [--min-batch 1] [--protocol 4|5] [--receive-maximum 65535] [--sub-port N] [--broker-pid N]";

    private const int MaxBatch = 32;

    public static async Task<int> RunAsync(string[] args)
    {
        var arguments = new ScenarioArguments(args);
        var host = arguments.Text("host", "127.0.0.1");
        var port = arguments.Int("port", 1883);
        // The subscriber's broker: another node of a cluster (cross-node fan-in); default the publishers'.
        var subscriberPort = arguments.Int("sub-port", port);
        var publishers = Math.Max(1, arguments.Int("publishers", 50));
        var maxUnacked = Math.Clamp(arguments.Int("max-unacked", 32), 1, 65_535);
        var maxInFlight = Math.Max(1, arguments.Int("max-in-flight", 20));
        var payloadSize = Math.Max(TelemetrySink.HeaderSize, arguments.Int("payload", 64));
        var seconds = arguments.Int("seconds", 10);
        var warmup = arguments.Int("warmup", 2);
        var drain = arguments.Int("drain", 15);
        var minBatch = Math.Clamp(arguments.Int("min-batch", 1), 1, Math.Min(maxUnacked, maxInFlight));
        var brokerPid = arguments.OptionalInt("broker-pid");
        var protocol = arguments.Int("protocol", 4) == 5 ? 5 : 4;
        var receiveMaximum = (ushort)Math.Clamp(arguments.Int("receive-maximum", 65_535), 1, 65_535);
        var prefix = $"tf{Environment.ProcessId}";

        using var stop = new CancellationTokenSource();
        using var stopPublishing = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
        var loops = new BackgroundLoops(stop.Token);
        var connections = new List<MqttConnection>();
        var sent = new long[publishers];
        var publishing = new List<Task>();
        try
        {
            var topics = Enumerable.Range(0, publishers).Select(i => $"devices/{prefix}-d{i:D4}/telemetry").ToArray();
            var subscriber = await MqttConnection.ConnectAsync(
                host, subscriberPort, $"{prefix}-sub", new ConnectSettings(ProtocolLevel: protocol, ReceiveMaximum: receiveMaximum), stop.Token);
            connections.Add(subscriber);
            await subscriber.SubscribeAsync("devices/+/telemetry", 1, stop.Token);
            var sink = new TelemetrySink(subscriber, publishers, System.Text.Encoding.UTF8.GetByteCount(topics[0]), payloadSize);
            loops.Watch(subscriber.ReadLoopAsync(sink, stop.Token));

            for (var i = 0; i < publishers; i++)
            {
                var connection = await MqttConnection.ConnectAsync(host, port, $"{prefix}-p{i}", new ConnectSettings(ProtocolLevel: protocol), stop.Token);
                connections.Add(connection);
                var acks = new PubAckSink();
                loops.Watch(connection.ReadLoopAsync(acks, stop.Token));
                var publisher = new Publisher(i, connection, acks, sink, topics[i], payloadSize, maxUnacked, maxInFlight, minBatch);
                var loop = publisher.RunAsync(sent, stopPublishing.Token, stop.Token);
                publishing.Add(loop);
                loops.Watch(IgnoreStop(loop, stopPublishing.Token));
            }

            await Task.Delay(TimeSpan.FromSeconds(warmup), stop.Token);
            var received0 = sink.Received;
            var start = CpuSample.Take(brokerPid);
            await Task.Delay(TimeSpan.FromSeconds(seconds), stop.Token);
            var end = CpuSample.Take(brokerPid);
            var delivered = sink.Received - received0;

            // Stop publishing, then wait for everything sent to arrive (or the drain time to pass): what is missing then is lost.
            await stopPublishing.CancelAsync();
            sink.ReleaseAll();
            // A publisher that failed was counted by the loops' watcher already.
            await Task.WhenAll(publishing.Select(p => p.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default)));
            var totalSent = sent.Sum();
            var deadline = Stopwatch.GetTimestamp() + (drain * Stopwatch.Frequency);
            while (sink.Received < totalSent && Stopwatch.GetTimestamp() < deadline)
            {
                await Task.Delay(50, stop.Token);
            }

            var measured = Stopwatch.GetElapsedTime(start.Timestamp, end.Timestamp).TotalSeconds;
            var lost = totalSent - sink.Received;
            var line = new ResultLine("telemetry-fanin")
                .Add("qos", 1).Add("protocol", protocol).Add("publishers", publishers).Add("subscribers", 1).Add("max_unacked", maxUnacked)
                .Add("max_in_flight", maxInFlight).Add("payload", payloadSize).Add("seconds", measured, "F2")
                .Add("delivered", delivered).Add("msgs_per_s", delivered / measured, "F0")
                .AddCpu(start, end, delivered)
                .Add("sent", totalSent).Add("received", sink.Received).Add("lost", lost)
                .Add("duplicates", sink.Duplicates).Add("out_of_order", sink.OutOfOrder)
                .Add("errors", loops.Errors).Add("malformed", sink.Malformed);
            Console.WriteLine(line);
            return loops.Errors > 0 || sink.Malformed > 0 ? 1 : 0;
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

    private static async Task IgnoreStop(Task loop, CancellationToken stopping)
    {
        try
        {
            await loop;
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The end of the measured run.
        }
    }

    /// <summary>One publisher: numbered QoS 1 PUBLISHes as fast as both of its windows allow.</summary>
    private sealed class Publisher(
        int index, MqttConnection connection, PubAckSink acks, TelemetrySink sink, string topic, int payloadSize, int maxUnacked, int maxInFlight, int minBatch)
    {
        /// <summary>Publishes until <paramref name="stopping"/>; a write under way is finished unless <paramref name="aborting"/> fires (a half-written packet would be malformed).</summary>
        public async Task RunAsync(long[] sentCounts, CancellationToken stopping, CancellationToken aborting)
        {
            var template = MqttWire.Publish(topic, 1, payloadSize, out var idOffset, connection.ProtocolLevel);
            var payloadOffset = template.Length - payloadSize;
            BinaryPrimitives.WriteInt32BigEndian(template.AsSpan(payloadOffset), index);
            var batch = new byte[template.Length * MaxBatch];
            ushort packetId = 0;
            long sent = 0;
            while (!stopping.IsCancellationRequested)
            {
                var count = Allowed(sent);
                if (count < minBatch)
                {
                    // Arm first, then look again, so progress between the check and the wait is not missed.
                    var received = sink.ProgressOf(index).WaitAsync();
                    var acked = acks.Progress.WaitAsync();
                    if (Allowed(sent) < minBatch)
                    {
                        await Task.WhenAny(received, acked).WaitAsync(stopping);
                    }

                    continue;
                }

                for (var i = 0; i < count; i++)
                {
                    var slot = batch.AsSpan(i * template.Length, template.Length);
                    template.CopyTo(slot);
                    packetId = packetId == ushort.MaxValue ? (ushort)1 : (ushort)(packetId + 1);
                    BinaryPrimitives.WriteUInt16BigEndian(slot[idOffset..], packetId);
                    BinaryPrimitives.WriteInt64BigEndian(slot[(payloadOffset + 4)..], sent + i);
                }

                // Counted before the write: a message the broker loses must still count as sent.
                sent += count;
                Volatile.Write(ref sentCounts[index], sent);
                await connection.SendAsync(batch.AsMemory(0, count * template.Length), aborting);
            }
        }

        private int Allowed(long sent) => (int)Math.Min(
            MaxBatch, Math.Min(maxUnacked - (sent - acks.Acked), maxInFlight - (sent - sink.ReceivedFrom(index))));
    }
}
