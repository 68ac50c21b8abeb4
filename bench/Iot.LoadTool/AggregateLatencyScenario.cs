using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.LoadTool;

/// <summary>
/// MQTT publish to aggregate-out latency: devices publish telemetry stamped with the current time; a subscriber on
/// <c>aggregates/{stream}/{window}/#</c> measures, for each aggregate, how long after its window's end it arrived.
/// With tolerance 0 the window closes when the first event past its end arrives, which is within one publish
/// interval of the end, so the figure is the pipeline's latency plus at most that interval.
/// The broker must run a tumbling window on the stream (see docs/benchmarks.md for the arguments).
/// </summary>
internal static class AggregateLatencyScenario
{
    public static async Task<int> RunAsync(string[] args)
    {
        var arguments = new ScenarioArguments(args);
        var host = arguments.Text("host", "127.0.0.1");
        var port = arguments.Int("port", 1883);
        var devices = arguments.Int("devices", 10);
        var intervalMs = arguments.Int("interval-ms", 10);
        var seconds = arguments.Int("seconds", 10);
        var window = arguments.Text("window", "t1");
        var stream = arguments.Text("stream", "telemetry");
        var prefix = "lat-" + Guid.NewGuid().ToString("N")[..6];

        var factory = new MqttClientFactory();
        var latencies = new ConcurrentBag<double>();
        using var subscriber = factory.CreateMqttClient();
        subscriber.ApplicationMessageReceivedAsync += e =>
        {
            if (e.ApplicationMessage.Retain)
            {
                return Task.CompletedTask; // a retained result from before this run
            }

            using var json = JsonDocument.Parse(e.ApplicationMessage.Payload);
            if (json.RootElement.TryGetProperty("key", out var key) && key.GetString()!.StartsWith(prefix, StringComparison.Ordinal))
            {
                var end = json.RootElement.GetProperty("end").GetDateTimeOffset();
                latencies.Add((DateTimeOffset.UtcNow - end).TotalMilliseconds);
            }

            return Task.CompletedTask;
        };
        await subscriber.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(host, port).WithClientId(prefix + "-sub").Build());
        await subscriber.SubscribeAsync($"aggregates/{stream}/{window}/#", MqttQualityOfServiceLevel.AtLeastOnce);

        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var publishers = Enumerable.Range(0, devices).Select(async d =>
        {
            using var client = factory.CreateMqttClient();
            var id = $"{prefix}-{d}";
            await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(host, port).WithClientId(id).Build());
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                var payload = string.Create(CultureInfo.InvariantCulture, $"{{\"temperature\":{20 + (n++ % 10)},\"ts\":{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}}}");
                await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{id}/telemetry").WithPayload(payload)
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                try
                {
                    await Task.Delay(intervalMs, stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            await client.DisconnectAsync();
        }).ToArray();
        await Task.WhenAll(publishers);
        await Task.Delay(TimeSpan.FromSeconds(1)); // let the last closed windows arrive
        await subscriber.DisconnectAsync();

        var sorted = latencies.Order().ToArray();
        double At(double q) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"scenario=aggregates devices={devices} interval_ms={intervalMs} seconds={seconds} window={window} aggregates={sorted.Length} "
            + $"latency_ms_p50={At(0.5):F1} latency_ms_p99={At(0.99):F1} latency_ms_max={(sorted.Length == 0 ? double.NaN : sorted[^1]):F1}"));
        return sorted.Length > 0 ? 0 : 1;
    }
}
