using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.LoadTool;

/// <summary>
/// Events per second from MQTT publish to webhook delivery: a webhook receiver (HttpListener) subscribed through
/// the broker's HTTP API, N QoS 1 device events published by concurrent MQTT clients, timed until the last event
/// arrives at the webhook. Prints one key=value line.
/// </summary>
internal static class EventsScenario
{
    public const string Usage = "usage: Iot.LoadTool events --port N --http-port N [--host 127.0.0.1] [--count 20000] [--publishers 20] [--batch 1]";

    public static async Task<int> RunAsync(string[] args)
    {
        var arguments = new ScenarioArguments(args);
        var host = arguments.Text("host", "127.0.0.1");
        var port = arguments.Int("port", 1883);
        var httpPort = arguments.Int("http-port", 8080);
        var count = arguments.Int("count", 20_000);
        var publishers = arguments.Int("publishers", 20);
        var batch = arguments.Int("batch", 1);

        var hookPort = FreePort();
        using var listener = new HttpListener();
        listener.Prefixes.Add($"http://127.0.0.1:{hookPort}/");
        listener.Start();
        long received = 0;
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var serve = Task.Run(async () =>
        {
            while (listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await listener.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                if (context.Request.HttpMethod == "OPTIONS")
                {
                    context.Response.AddHeader("WebHook-Allowed-Origin", context.Request.Headers["WebHook-Request-Origin"] ?? "*");
                }
                else
                {
                    using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
                    var body = await reader.ReadToEndAsync();
                    var events = CountOccurrences(body, "\"specversion\"");
                    if (Interlocked.Add(ref received, events) >= count)
                    {
                        done.TrySetResult();
                    }
                }

                context.Response.StatusCode = 200;
                context.Response.Close();
            }
        });

        var name = "bench-" + Guid.NewGuid().ToString("N")[..8];
        using (var http = new HttpClient { BaseAddress = new Uri($"http://{host}:{httpPort}/") })
        {
            var json = "{\"filter\":{\"topicFilter\":\"bench/" + name + "/events/#\"},\"destination\":{\"kind\":\"webhook\",\"endpointUrl\":\"http://127.0.0.1:"
                + hookPort.ToString(CultureInfo.InvariantCulture) + "/hook\"},\"batching\":{\"maxEventsPerBatch\":" + batch.ToString(CultureInfo.InvariantCulture) + "}}";
            using var content = new StringContent(json, Encoding.UTF8, "application/json");
            using var response = await http.PutAsync(new Uri("api/subscriptions/" + name, UriKind.Relative), content);
            if (!response.IsSuccessStatusCode)
            {
                await Console.Error.WriteLineAsync($"creating the subscription failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                return 1;
            }
        }

        var factory = new MqttClientFactory();
        var clients = new List<IMqttClient>();
        for (var p = 0; p < publishers; p++)
        {
            var client = factory.CreateMqttClient();
            await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(host, port).WithClientId($"{name}-{p}").Build());
            clients.Add(client);
        }

        var started = Stopwatch.GetTimestamp();
        long next = -1;
        await Task.WhenAll(clients.Select(async client =>
        {
            long i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                await client.PublishAsync(new MqttApplicationMessageBuilder()
                    .WithTopic($"bench/{name}/events/e{i % 16}")
                    .WithPayload("{\"n\":" + i.ToString(CultureInfo.InvariantCulture) + ",\"temperature\":21.5}")
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                    .Build());
            }
        }));
        var published = Stopwatch.GetElapsedTime(started);
        var arrived = await Task.WhenAny(done.Task, Task.Delay(TimeSpan.FromSeconds(120))) == done.Task;
        var total = Stopwatch.GetElapsedTime(started);
        foreach (var client in clients)
        {
            await client.DisconnectAsync();
            client.Dispose();
        }

        listener.Stop();
        await serve;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"scenario=events count={count} publishers={publishers} batch={batch} publish_acked_per_s={count / published.TotalSeconds:F0} "
            + $"delivered={Interlocked.Read(ref received)} end_to_end_per_s={Interlocked.Read(ref received) / total.TotalSeconds:F0} seconds={total.TotalSeconds:F2} complete={arrived}"));
        return arrived ? 0 : 1;
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    private static int CountOccurrences(string text, string value)
    {
        var n = 0;
        for (var i = text.IndexOf(value, StringComparison.Ordinal); i >= 0; i = text.IndexOf(value, i + value.Length, StringComparison.Ordinal))
        {
            n++;
        }

        return n;
    }
}
