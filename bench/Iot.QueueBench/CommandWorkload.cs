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
/// trip (enqueue, delivery, PUBACK, answer, 200).
/// </summary>
internal static class CommandWorkload
{
    public static async Task RunAsync(int devices, int commands, Uri httpBase, int mqttPort, int concurrency)
    {
        var runId = Guid.NewGuid().ToString("N")[..6];
        var clients = new List<IMqttClient>(devices);
        var factory = new MqttClientFactory();
        var connect = Stopwatch.StartNew();
        for (int i = 0; i < devices; i += 100)
        {
            clients.AddRange(await Task.WhenAll(Enumerable.Range(i, Math.Min(100, devices - i)).Select(n => ConnectDeviceAsync(factory, $"bench-{runId}-{n}", mqttPort))));
        }

        Console.WriteLine($"{devices} devices connected and subscribed in {connect.Elapsed.TotalSeconds:N1} s");

        using var http = new HttpClient { BaseAddress = httpBase, Timeout = TimeSpan.FromSeconds(60) };
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
                using var response = await http.PostAsync(new Uri($"api/devices/bench-{runId}-{i % devices}/commands/ping?wait=30", UriKind.Relative), content);
                latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                if (!response.IsSuccessStatusCode
                    || (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString() != "Completed")
                {
                    Interlocked.Increment(ref failures);
                }
            }
        })));
        var seconds = clock.Elapsed.TotalSeconds;
        Console.WriteLine($"commands: {commands} to {devices} devices, {concurrency} HTTP callers: {commands / seconds:N0} commands/s, " +
            $"round trip p50 {QueueWorkload.Percentile(latencies, 0.5):N1} ms, p99 {QueueWorkload.Percentile(latencies, 0.99):N1} ms, {failures} not completed");

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
