using System.Diagnostics;
using System.Net;

namespace Iot.LoadTool;

/// <summary>
/// Idle connections: opens <c>warm</c> connections, reads the broker's RSS, opens N more (CONNECT, CONNACK, keep-alive
/// 300 s, then silence) and reads the RSS right after the last CONNACK (<c>bytes_per_conn_connected</c>: what a
/// surge of connections costs before the broker tidies up), then waits <c>settle</c> seconds (default 30) and reads it
/// again (<c>bytes_per_conn</c>: what they cost once settled, after any heap compaction). The ramp's
/// CONNECT-to-CONNACK rate (with <c>concurrency</c> handshakes outstanding) is the connects/s figure. Connections come
/// from <c>sources</c> loopback addresses (127.0.0.1, .2, ...) like a fleet from many addresses; one process holds at
/// most about 19 500 sockets here (open-files hard limit 20 000), the tool as well as the broker.
/// </summary>
internal static class IdleScenario
{
    public const string Usage =
        "usage: Iot.LoadTool idle --port N [--host 127.0.0.1] [--connections 1000] [--warm 100] [--sources 64] [--concurrency 100] "
        + "[--keepalive 300] [--settle 30] [--hold 0] [--broker-pid N]";

    public static async Task<int> RunAsync(string[] args)
    {
        var arguments = new ScenarioArguments(args);
        var host = arguments.Text("host", "127.0.0.1");
        var port = arguments.Int("port", 1883);
        var count = arguments.Int("connections", 1000);
        var warm = arguments.Int("warm", 100);
        var sources = Math.Clamp(arguments.Int("sources", 64), 1, 254);
        var concurrency = arguments.Int("concurrency", 100);
        var keepAlive = (ushort)arguments.Int("keepalive", 300);
        var settle = arguments.Int("settle", 30);
        var hold = arguments.Int("hold", 0);
        var brokerPid = arguments.OptionalInt("broker-pid");
        var prefix = $"id{Environment.ProcessId}";

        using var stop = new CancellationTokenSource();
        var loops = new BackgroundLoops(stop.Token);
        var warmConnections = new MqttConnection?[warm];
        var connections = new MqttConnection?[count];
        try
        {
            await OpenAsync(warmConnections, $"{prefix}-w", 0, host, port, keepAlive, sources, concurrency, loops, stop.Token);
            await Task.Delay(TimeSpan.FromSeconds(1));
            var rssBefore = ProcessMemory.RssBytes(brokerPid);
            var start = CpuSample.Take(brokerPid);
            var handshakes = await OpenAsync(connections, $"{prefix}-c", warm, host, port, keepAlive, sources, concurrency, loops, stop.Token);
            var end = CpuSample.Take(brokerPid);
            var rssConnected = ProcessMemory.RssBytes(brokerPid);
            var rampSeconds = Stopwatch.GetElapsedTime(start.Timestamp, end.Timestamp).TotalSeconds;
            await Task.Delay(TimeSpan.FromSeconds(settle));
            var rssAfter = ProcessMemory.RssBytes(brokerPid);
            if (hold > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds(hold));
            }

            var open = connections.Count(c => c is not null);
            var dropped = connections.Count(c => c is not null && c.IsClosedByPeer()) + warmConnections.Count(c => c is not null && c.IsClosedByPeer());
            var ms = 1e3 / Stopwatch.Frequency;
            Array.Sort(handshakes);
            double? Percentile(double p) => handshakes.Length == 0 ? null : handshakes[Math.Min(handshakes.Length - 1, (int)(p * handshakes.Length))] * ms;

            var line = new ResultLine("idle")
                .Add("connections", count).Add("opened", open).Add("warm", warm).Add("sources", sources).Add("concurrency", concurrency)
                .Add("connects_per_s", open / rampSeconds, "F0").Add("connect_p50_ms", Percentile(0.5), "F2").Add("connect_p99_ms", Percentile(0.99), "F2")
                .Add("rss_before_kb", rssBefore / 1024.0, "F0").Add("rss_connected_kb", rssConnected / 1024.0, "F0")
                .Add("rss_after_kb", rssAfter / 1024.0, "F0").Add("settle_s", settle)
                .Add("bytes_per_conn_connected", open > 0 ? (double?)(rssConnected - rssBefore) / open : null, "F0")
                .Add("bytes_per_conn", open > 0 ? (double?)(rssAfter - rssBefore) / open : null, "F0")
                .Add("hold_s", hold).Add("dropped", dropped)
                .AddCpu(start, end, open)
                .Add("errors", loops.Errors).Add("malformed", 0);
            Console.WriteLine(line);
            return loops.Errors > 0 || dropped > 0 ? 1 : 0;
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var connection in warmConnections.Concat(connections))
            {
                connection?.Dispose();
            }
        }
    }

    /// <summary>Fills <paramref name="slots"/> with connections, <paramref name="concurrency"/> handshakes at a time; returns each handshake's duration in ticks.</summary>
    private static async Task<long[]> OpenAsync(
        MqttConnection?[] slots, string idPrefix, int sourceOffset, string host, int port, ushort keepAlive, int sources, int concurrency, BackgroundLoops loops, CancellationToken ct)
    {
        var durations = new long[slots.Length];
        var next = -1;
        var workers = Enumerable.Range(0, Math.Min(concurrency, Math.Max(1, slots.Length))).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < slots.Length)
            {
                var source = new IPAddress(new byte[] { 127, 0, 0, (byte)(1 + ((i + sourceOffset) % sources)) });
                var started = Stopwatch.GetTimestamp();
                try
                {
                    slots[i] = await MqttConnection.ConnectAsync(
                        host, port, $"{idPrefix}{i}", new ConnectSettings(keepAlive, source, ReadBufferSize: 256), ct);
                    durations[i] = Stopwatch.GetTimestamp() - started;
                }
                catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException)
                {
                    loops.Fail(ex);
                }
            }
        });
        await Task.WhenAll(workers);
        return durations.Where((_, i) => slots[i] is not null).ToArray();
    }
}
