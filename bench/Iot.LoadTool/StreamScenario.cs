using System.Text;

namespace Iot.LoadTool;

/// <summary>
/// Telemetry at QoS 1: N devices publish JSON on <c>devices/{id}/telemetry</c>, each with at most <c>window</c>
/// PUBLISH packets un-acknowledged; the figure is PUBACKs per second. On the Iot broker the default route sends that
/// topic to the durable stream <c>telemetry</c> and the PUBACK waits for the append; on Mosquitto (no subscriber) it
/// is the in-memory QoS 1 acceptance rate of the same topics. <c>--ports a,b,c</c> spreads the devices round-robin
/// over several brokers (the nodes of a cluster).
/// </summary>
internal static class StreamScenario
{
    public const string Usage =
        "usage: Iot.LoadTool stream --port N [--host 127.0.0.1] [--devices 50] [--window 20] [--payload 64] [--seconds 10] [--warmup 2] [--broker-pid N] [--ports N,N,...]";

    public static async Task<int> RunAsync(string[] args)
    {
        var arguments = new ScenarioArguments(args);
        var host = arguments.Text("host", "127.0.0.1");
        var port = arguments.Int("port", 1883);
        var ports = arguments.Text("ports", port.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var devices = arguments.Int("devices", 50);
        var window = arguments.Int("window", 20);
        var payloadSize = arguments.Int("payload", 64);
        var seconds = arguments.Int("seconds", 10);
        var warmup = arguments.Int("warmup", 2);
        var brokerPid = arguments.OptionalInt("broker-pid");
        var prefix = $"st{Environment.ProcessId}";

        using var stop = new CancellationTokenSource();
        var loops = new BackgroundLoops(stop.Token);
        var connections = new List<MqttConnection>();
        var sinks = new List<PubAckSink>();
        var payload = TelemetryPayload(payloadSize);
        try
        {
            for (var i = 0; i < devices; i++)
            {
                var device = $"{prefix}-d{i}";
                var connection = await MqttConnection.ConnectAsync(host, ports[i % ports.Length], device, stop.Token);
                connections.Add(connection);
                var acks = new PubAckSink();
                sinks.Add(acks);
                loops.Watch(connection.ReadLoopAsync(acks, stop.Token));
                var template = MqttWire.Publish($"devices/{device}/telemetry", 1, retain: false, payload, out var idOffset, out _);
                loops.Watch(AckedPublisher.RunAsync(
                    connection, acks, AckedPublisher.Template(template, idOffset), template.Length, window, long.MaxValue, stop.Token));
            }

            await Task.Delay(TimeSpan.FromSeconds(warmup));
            var acked0 = sinks.Sum(s => s.Acked);
            var start = CpuSample.Take(brokerPid);
            await Task.Delay(TimeSpan.FromSeconds(seconds));
            var end = CpuSample.Take(brokerPid);
            var acked = sinks.Sum(s => s.Acked) - acked0;
            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(start.Timestamp, end.Timestamp).TotalSeconds;

            var line = new ResultLine("stream")
                .Add("qos", 1).Add("brokers", ports.Length).Add("devices", devices).Add("window", window).Add("payload", payloadSize)
                .Add("seconds", elapsed, "F2").Add("acked", acked).Add("msgs_per_s", acked / elapsed, "F0")
                .AddCpu(start, end, acked)
                .Add("errors", loops.Errors).Add("malformed", 0);
            Console.WriteLine(line);
            return loops.Errors > 0 || acked == 0 ? 1 : 0;
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

    /// <summary>A JSON telemetry document padded to exactly <paramref name="size"/> bytes (at least the fixed part).</summary>
    private static byte[] TelemetryPayload(int size)
    {
        const string Head = "{\"temperature\":21.5,\"humidity\":40.2,\"pad\":\"";
        const string Tail = "\"}";
        var pad = Math.Max(0, size - Head.Length - Tail.Length);
        return Encoding.UTF8.GetBytes(Head + new string('x', pad) + Tail);
    }
}
