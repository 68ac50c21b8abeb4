using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.QueueBench;

/// <summary>
/// Commands per second to connected devices through a running broker: N MQTT 5 devices that answer every command at
/// once, and HTTP callers that send commands round-robin with <c>wait</c>, so each call's latency is the full round
/// trip (enqueue, delivery, PUBACK, answer, 200). With several brokers of a cluster, devices connect round-robin to
/// the MQTT ports and callers post round-robin to the HTTP addresses, so most commands are posted on one node and
/// delivered by another.
/// </summary>
internal static class CommandWorkload
{
    public static async Task RunAsync(int devices, int commands, string httpBases, string mqttPorts, int concurrency)
    {
        var ports = mqttPorts.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var bases = httpBases.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(b => new Uri(b.TrimEnd('/') + "/")).ToArray();
        var runId = Guid.NewGuid().ToString("N")[..6];
        var clients = new List<IMqttClient>(devices);
        var factory = new MqttClientFactory();
        var connect = Stopwatch.StartNew();
        for (int i = 0; i < devices; i += 100)
        {
            clients.AddRange(await Task.WhenAll(Enumerable.Range(i, Math.Min(100, devices - i)).Select(n => ConnectDeviceAsync(factory, $"bench-{runId}-{n}", ports[n % ports.Length]))));
        }

        Console.WriteLine($"{devices} devices connected and subscribed in {connect.Elapsed.TotalSeconds:N1} s");

        var http = bases.Select(b => new HttpClient { BaseAddress = b, Timeout = TimeSpan.FromSeconds(60) }).ToArray();
        var latencies = new double[commands];
        var failures = 0;
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < commands)
            {
                var started = Stopwatch.GetTimestamp();
                using var content = new StringContent($$"""{"n":{{i}}}""", Encoding.UTF8, "application/json");
                using var response = await http[(i + 1) % http.Length].PostAsync(new Uri($"api/devices/bench-{runId}-{i % devices}/commands/ping?wait=30", UriKind.Relative), content);
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                var body = await response.Content.ReadAsStringAsync();
                if (!response.IsSuccessStatusCode || JsonDocument.Parse(body).RootElement.GetProperty("status").GetString() != "Completed")
                {
                    if (Interlocked.Increment(ref failures) <= 3)
                    {
                        Console.WriteLine($"  not completed after {latencies[i]:N0} ms: {(int)response.StatusCode} {body[..Math.Min(body.Length, 160)]}");
                    }
                }
            }
        })));
        var seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"commands: {commands} to {devices} devices on {ports.Length} broker(s), {concurrency} HTTP callers on {bases.Length}: {commands / seconds:N0} commands/s, " +
            $"round trip p50 {QueueWorkload.Percentile(latencies, 0.5):N1} ms, p99 {QueueWorkload.Percentile(latencies, 0.99):N1} ms, {failures} not completed");

        foreach (var caller in http)
        {
            caller.Dispose();
        }

        foreach (var client in clients)
        {
            await client.DisconnectAsync();
            client.Dispose();
        }
    }

    private static async Task<IMqttClient> ConnectDeviceAsync(MqttClientFactory factory, string deviceId, int port)
    {
        var client = factory.CreateMqttClient();
        client.ApplicationMessageReceivedAsync += e =>
        {
            var command = e.ApplicationMessage;
            // Answer off the receive path: the PUBACK goes first, the answer right after.
            _ = Task.Run(() => client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic(command.ResponseTopic)
                .WithPayload("""{"status":"ok"}""")
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build()));
            return Task.CompletedTask;
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", port)
            .WithClientId(deviceId)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithTimeout(TimeSpan.FromSeconds(30))
            .Build());
        await client.SubscribeAsync($"devices/{deviceId}/commands/#", MqttQualityOfServiceLevel.AtLeastOnce);
        return client;
    }
}
