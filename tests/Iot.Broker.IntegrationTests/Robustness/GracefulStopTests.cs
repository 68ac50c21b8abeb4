using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Robustness;

/// <summary>
/// Issue 20, graceful drain: SIGTERM to a child broker under load. Readiness turns 503 while liveness stays 200, the
/// MQTT 5 clients get DISCONNECT 0x8B, a webhook request in flight at SIGTERM completes and is settled (not sent again
/// after the restart), the process exits 0, and every message a publisher had a PUBACK for is in the queue after the
/// restart.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class GracefulStopTests(ITestOutputHelper output) : IDisposable
{
    private const int Publishers = 4;
    private readonly TempDirectory _dataDir = new("iot-graceful-stop");
    private readonly ConcurrentDictionary<string, bool> _acknowledged = new(StringComparer.Ordinal);

    private static readonly string[] Args =
    [
        "--Iot:Routing:WebhookAllowPrivateNetworks=true",
        "--Iot:Shutdown:ReadinessDelay=00:00:02",
        "--Iot:Shutdown:DrainTimeout=00:00:30",
    ];

    public void Dispose() => _dataDir.Dispose();

    [Fact]
    public async Task Sigterm_UnderLoad_ReadinessOffThen0x8B_InFlightWebhookSettled_NothingAcknowledgedLost()
    {
        await using var sink = await WebhookSink.StartAsync();
        var broker = await BrokerProcess.StartAsync(_dataDir.Path, Args);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/"), Timeout = TimeSpan.FromSeconds(10) };
            await PutAsync(http, "api/queues/work", new { });
            await PutAsync(http, "api/routes/load-to-work", new { source = "load/#", destination = new { kind = "commandQueue", name = "work" } });
            await PutAsync(http, "api/subscriptions/slow", new { filter = new { topicFilter = "hook/#" }, destination = new { kind = "webhook", endpointUrl = sink.Url.ToString() } });

            // A webhook request is in flight: the receiver has the event and holds its answer.
            sink.HoldResponses();
            using var watcher = await ConnectAsync(broker.MqttPort, "watch");
            var disconnected = new TaskCompletionSource<MqttClientDisconnectedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
            watcher.DisconnectedAsync += e =>
            {
                disconnected.TrySetResult(e);
                return Task.CompletedTask;
            };
            await watcher.PublishAsync(Message("hook/1", "in flight"));
            await sink.Held.WaitAsync(TimeSpan.FromSeconds(30));

            // Load: publishers send QoS 1 until the broker goes away, recording each PUBACK.
            using var stop = new CancellationTokenSource();
            var load = Enumerable.Range(0, Publishers).Select(i => PublishUntilRefusedAsync(broker.MqttPort, i, stop.Token)).ToArray();
            await Eventually.WaitUntilAsync(() => _acknowledged.Count >= 200, TimeSpan.FromSeconds(60), "200 acknowledged publishes under load");

            var stopped = broker.StopAsync(TimeSpan.FromSeconds(90));

            // Readiness is off during Iot:Shutdown:ReadinessDelay while the process still serves liveness.
            await Eventually.WaitUntilAsync(async () => await StatusAsync(http, "healthz/ready") == HttpStatusCode.ServiceUnavailable,
                TimeSpan.FromSeconds(30), "/healthz/ready answers 503 after SIGTERM");
            Assert.Equal(HttpStatusCode.OK, await StatusAsync(http, "healthz/live"));

            // The held answer comes once webhook delivery is stopping: the request in flight is let finish.
            await broker.WaitForOutputAsync("Webhook delivery stopping", TimeSpan.FromSeconds(60));
            sink.ReleaseResponses();

            Assert.Equal(0, await stopped);
            var reason = await disconnected.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(MqttClientDisconnectReason.ServerShuttingDown, reason.Reason);
            await stop.CancelAsync();
            await Task.WhenAll(load);
            await broker.WaitForOutputAsync("Stopped gracefully", TimeSpan.FromSeconds(10));
            output.WriteLine(broker.Output);
            await broker.DisposeAsync();

            // After the restart: every acknowledged message is in the queue, and the webhook delivery was settled.
            broker = await BrokerProcess.StartAsync(_dataDir.Path, Args);
            using var http2 = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/"), Timeout = TimeSpan.FromSeconds(10) };
            var subscription = await http2.GetFromJsonAsync<JsonElement>(new Uri("api/subscriptions/slow", UriKind.Relative));
            Assert.Equal(0, subscription.GetProperty("pendingEvents").GetInt64());
            Assert.Single(sink.Events);

            var stored = await ReceiveAllAsync(http2, "work");
            var missing = _acknowledged.Keys.Where(id => !stored.Contains(id)).Order(StringComparer.Ordinal).ToList();
            Assert.True(missing.Count == 0, $"{missing.Count} of {_acknowledged.Count} acknowledged messages missing after the restart: {string.Join(", ", missing.Take(20))}");
            output.WriteLine($"{_acknowledged.Count} acknowledged, {stored.Count} stored");
        }
        catch
        {
            output.WriteLine("Broker output:\n" + broker.Output);
            throw;
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    private async Task PublishUntilRefusedAsync(int port, int publisher, CancellationToken cancellationToken)
    {
        using var client = await ConnectAsync(port, "load" + publisher.ToString(CultureInfo.InvariantCulture));
        for (int i = 0; !cancellationToken.IsCancellationRequested; i++)
        {
            var id = string.Create(CultureInfo.InvariantCulture, $"p{publisher}-{i}");
            try
            {
                var result = await client.PublishAsync(Message($"load/{publisher}", id), cancellationToken);
                if (!result.IsSuccess)
                {
                    return;
                }

                _acknowledged[id] = true;
            }
            catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or InvalidOperationException)
            {
                // The broker closed the connection: this publisher is done.
                return;
            }
        }
    }

    private static async Task<HashSet<string>> ReceiveAllAsync(HttpClient http, string queue)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        while (true)
        {
            var answer = await http.PostAsync(new Uri($"api/queues/{queue}/messages:receive?maxMessages=1000&mode=receiveAndDelete&maxWaitTime=0", UriKind.Relative), null);
            answer.EnsureSuccessStatusCode();
            var body = await answer.Content.ReadFromJsonAsync<JsonElement>();
            var batch = body.GetProperty("value").EnumerateArray().ToList();
            if (batch.Count == 0)
            {
                return ids;
            }

            foreach (var message in batch)
            {
                ids.Add(message.GetProperty("body").GetString()!);
            }
        }
    }

    private static async Task<HttpStatusCode> StatusAsync(HttpClient http, string path)
    {
        try
        {
            using var response = await http.GetAsync(new Uri(path, UriKind.Relative));
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return 0;
        }
    }

    private static async Task PutAsync(HttpClient http, string path, object body)
    {
        using var response = await http.PutAsJsonAsync(new Uri(path, UriKind.Relative), body);
        Assert.True(response.IsSuccessStatusCode, $"PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static MqttApplicationMessage Message(string topic, string payload) =>
        new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build();

    private static async Task<IMqttClient> ConnectAsync(int port, string name)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, port)
            .WithClientId(TestIds.ClientId(name))
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithTimeout(TimeSpan.FromSeconds(10))
            .Build());
        return client;
    }
}
