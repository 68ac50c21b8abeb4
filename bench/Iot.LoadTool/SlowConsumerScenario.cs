using System.Diagnostics;

namespace Iot.LoadTool;

/// <summary>
/// A slow consumer next to a fast one: <c>publishers</c> publishers and one fast subscriber on a topic (the publishers
/// together at most <c>window</c> messages each ahead of the fast subscriber), measured for <c>seconds</c>/2 alone, then a second subscriber
/// joins that never reads its socket (small receive buffer; at QoS 1 it never acknowledges either) and the fast
/// subscriber is measured again for <c>seconds</c>. Reports both rates, the slowest one-second rate with the slow
/// consumer, and the broker's RSS before the slow consumer joined, at its peak and at the end (sampled every 250 ms):
/// with a bounded per-session queue the fast rate holds and the RSS levels off.
/// </summary>
internal static class SlowConsumerScenario
{
    public const string Usage =
        "usage: Iot.LoadTool slowconsumer --port N [--host 127.0.0.1] [--qos 0|1] [--publishers 1] [--payload 64] [--window 20] [--seconds 10] [--warmup 2] [--broker-pid N] [--metrics-url URL | --sys-dropped 1]";

    public static async Task<int> RunAsync(string[] args)
    {
        var arguments = new ScenarioArguments(args);
        var host = arguments.Text("host", "127.0.0.1");
        var port = arguments.Int("port", 1883);
        var qos = arguments.Int("qos", 0);
        var publishers = arguments.Int("publishers", 1);
        var payloadSize = arguments.Int("payload", 64);
        var windowSize = arguments.Int("window", 20);
        var seconds = arguments.Int("seconds", 10);
        var warmup = arguments.Int("warmup", 2);
        var brokerPid = arguments.OptionalInt("broker-pid");
        var prefix = $"sc{Environment.ProcessId}";
        var topic = $"bench/slow/{prefix}";

        using var stop = new CancellationTokenSource();
        var loops = new BackgroundLoops(stop.Token);
        var connections = new List<MqttConnection>();
        var window = new DeliveryWindow((long)windowSize * publishers);
        DropCounter? drops = null;
        try
        {
            drops = await DropCounter.CreateAsync(arguments, host, port, loops, stop.Token);
            var fast = await MqttConnection.ConnectAsync(host, port, $"{prefix}-fast", stop.Token);
            connections.Add(fast);
            await fast.SubscribeAsync(topic, qos, stop.Token);
            var sink = new SubscriberSink(fast, window, payloadSize);
            loops.Watch(fast.ReadLoopAsync(sink, stop.Token));

            var template = MqttWire.Publish(topic, qos, payloadSize, out var idOffset);
            for (var p = 0; p < publishers; p++)
            {
                var publisher = await MqttConnection.ConnectAsync(host, port, $"{prefix}-pub{p}", stop.Token);
                connections.Add(publisher);
                PubAckSink? acks = null;
                if (qos == 1)
                {
                    acks = new PubAckSink();
                    loops.Watch(publisher.ReadLoopAsync(acks, stop.Token));
                }

                loops.Watch(LoadRun.PublishLoopAsync(publisher, template, idOffset, 1, window, acks, stop.Token));
            }

            await Task.Delay(TimeSpan.FromSeconds(warmup));
            var aloneStart = window.Received;
            var aloneTimer = Stopwatch.GetTimestamp();
            await Task.Delay(TimeSpan.FromSeconds(Math.Max(1, seconds / 2)));
            var aloneRate = (window.Received - aloneStart) / Stopwatch.GetElapsedTime(aloneTimer).TotalSeconds;

            var rssBefore = ProcessMemory.RssBytes(brokerPid);
            var droppedBefore = drops is null ? null : await drops.ReadAsync(fresh: false, stop.Token);
            var slow = await MqttConnection.ConnectAsync(
                host, port, $"{prefix}-slow", new ConnectSettings(ReadBufferSize: 4096, ReceiveBufferSize: 4096), stop.Token);
            connections.Add(slow);
            await slow.SubscribeAsync(topic, qos, stop.Token);

            var received0 = window.Received;
            var lost0 = window.Lost;
            var start = CpuSample.Take(brokerPid);
            var rssMax = rssBefore;
            var slowestSecond = double.MaxValue;
            var secondStart = Stopwatch.GetTimestamp();
            var secondReceived = received0;
            for (var tick = 0; tick < seconds * 4; tick++)
            {
                await Task.Delay(250);
                if (ProcessMemory.RssBytes(brokerPid) is { } rss && rss > (rssMax ?? 0))
                {
                    rssMax = rss;
                }

                if (tick % 4 == 3)
                {
                    var received = window.Received;
                    slowestSecond = Math.Min(slowestSecond, (received - secondReceived) / Stopwatch.GetElapsedTime(secondStart).TotalSeconds);
                    secondReceived = received;
                    secondStart = Stopwatch.GetTimestamp();
                }
            }

            var end = CpuSample.Take(brokerPid);
            var rssEnd = ProcessMemory.RssBytes(brokerPid);
            var delivered = window.Received - received0;
            var elapsed = Stopwatch.GetElapsedTime(start.Timestamp, end.Timestamp).TotalSeconds;
            var slowOpen = !slow.IsClosedByPeer();
            var droppedAfter = drops is null ? null : await drops.ReadAsync(fresh: true, stop.Token);

            var line = new ResultLine("slowconsumer")
                .Add("qos", qos).Add("publishers", publishers).Add("payload", payloadSize).Add("window", windowSize).Add("seconds", elapsed, "F2")
                .Add("alone_msgs_per_s", aloneRate, "F0").Add("delivered", delivered).Add("msgs_per_s", delivered / elapsed, "F0")
                .Add("slowest_1s_msgs_per_s", slowestSecond == double.MaxValue ? null : slowestSecond, "F0")
                .Add("kept_ratio", aloneRate > 0 ? delivered / elapsed / aloneRate : null, "F2")
                .Add("rss_before_kb", rssBefore / 1024.0, "F0").Add("rss_max_kb", rssMax / 1024.0, "F0").Add("rss_end_kb", rssEnd / 1024.0, "F0")
                .Add("rss_growth_kb", (rssMax - rssBefore) / 1024.0, "F0").Add("slow_still_connected", slowOpen ? 1 : 0)
                .Add("broker_dropped", droppedAfter - droppedBefore, "F0")
                .AddCpu(start, end, delivered)
                .Add("lost", window.Lost - lost0).Add("errors", loops.Errors).Add("malformed", sink.Malformed);
            Console.WriteLine(line);
            return loops.Errors > 0 || sink.Malformed > 0 || delivered == 0 ? 1 : 0;
        }
        finally
        {
            await stop.CancelAsync();
            window.Release();
            drops?.Dispose();
            foreach (var connection in connections)
            {
                connection.Dispose();
            }

            await loops.WhenAllAsync();
        }
    }
}
