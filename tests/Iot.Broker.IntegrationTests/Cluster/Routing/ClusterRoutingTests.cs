using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Routing;

/// <summary>
/// Issue 19, event subscriptions and routes cluster-wide: three real nats-server processes and two broker child
/// processes (without the default route, so only the routes defined here route events). A route and a pull
/// subscription created through A's HTTP API route publishes made on B; the events are received on both nodes and a
/// lock taken on one is acknowledged on the other; deleting through A stops routing on B.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterRoutingTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);
    private NatsClusterFixture? _nats;
    private ClusterBrokers? _brokers;

    private ClusterBrokers Brokers => _brokers ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        _nats = await NatsClusterFixture.StartAsync(servers: 3);
        _brokers = await ClusterBrokers.StartAsync(_nats, 2, "--Iot:Routing:DefaultEventRoute=false");
    }

    public async Task DisposeAsync()
    {
        if (_brokers is not null)
        {
            await _brokers.DisposeAsync();
        }

        if (_nats is not null)
        {
            await _nats.DisposeAsync();
        }
    }

    [Fact]
    public async Task RouteAndPullSubscriptionCreatedOnA_RoutePublishesOnB_LocksSettleAcrossNodes_DeleteOnAStopsB()
    {
        try
        {
            using var a = Api(0);
            using var b = Api(1);
            var device = TestIds.ClientId("crt");
            await PutAsync(a, "api/subscriptions/alarms", new { filter = new { topicFilter = "devices/+/events/#" }, destination = new { kind = "pull" } });
            await PutAsync(a, "api/routes/alarm-route", new
            {
                source = $"devices/{device}/events/alarm",
                destination = new { kind = "eventSubscription", name = "alarms" },
            });

            // B follows A's writes: both definitions are in force there without a restart.
            await WaitForStatusAsync(b, "api/subscriptions/alarms", HttpStatusCode.OK);
            await WaitForStatusAsync(b, "api/routes/alarm-route", HttpStatusCode.OK);

            // Published on B, routed on B by A's route, received on A (a long poll that B's enqueue wakes) and on B.
            await PublishAsync(1, $"devices/{device}/events/alarm", "{\"n\":1}");
            await PublishAsync(1, $"devices/{device}/events/alarm", "{\"n\":2}");
            var onA = await ReceiveAsync(a, "alarms", maxEvents: 1);
            var onB = await ReceiveAsync(b, "alarms", maxEvents: 1);
            Assert.Equal([1, 2], new[] { onA.N, onB.N }.Order());

            // Each lock settles on the other node.
            await AcknowledgeAsync(b, "alarms", onA.LockToken);
            await AcknowledgeAsync(a, "alarms", onB.LockToken);
            await Eventually.WaitUntilAsync(async () => await PendingAsync(a, "alarms") == 0 && await PendingAsync(b, "alarms") == 0,
                Deadline, "both nodes see the subscription empty");

            // Deleted through A: B's table drops the route, and a publish on B is routed no more. A probe route created
            // after the deletion is applied on B after it (revision order), and its event after the alarm (one MQTT
            // connection, in order): when the probe arrives, the alarm would have.
            Assert.Equal(HttpStatusCode.NoContent, (await a.DeleteAsync(new Uri("api/routes/alarm-route", UriKind.Relative))).StatusCode);
            await PutAsync(a, "api/routes/probe-route", new
            {
                source = $"devices/{device}/events/probe",
                destination = new { kind = "eventSubscription", name = "alarms" },
            });
            await WaitForStatusAsync(b, "api/routes/probe-route", HttpStatusCode.OK);
            Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(b, "api/routes/alarm-route"));
            await PublishAsync(1, [($"devices/{device}/events/alarm", "{\"n\":3}"), ($"devices/{device}/events/probe", "{\"n\":4}")]);
            var after = await ReceiveAsync(a, "alarms", maxEvents: 10);
            Assert.Equal(4, after.N);
            await AcknowledgeAsync(b, "alarms", after.LockToken);

            // The subscription deleted through A is gone on B, with its deliveries.
            Assert.Equal(HttpStatusCode.NoContent, (await a.DeleteAsync(new Uri("api/subscriptions/alarms", UriKind.Relative))).StatusCode);
            await WaitForStatusAsync(b, "api/subscriptions/alarms", HttpStatusCode.NotFound);
            Assert.Equal(HttpStatusCode.NotFound, await StatusAsync(b, "api/subscriptions/alarms/events:receive", HttpMethod.Post));
        }
        catch
        {
            output.WriteLine(Brokers.Diagnostics());
            throw;
        }
    }

    private HttpClient Api(int node) => new() { BaseAddress = Brokers.HttpBaseAddress(node), Timeout = TimeSpan.FromSeconds(30) };

    private static async Task PutAsync(HttpClient http, string path, object body)
    {
        using var response = await http.PutAsJsonAsync(new Uri(path, UriKind.Relative), body);
        Assert.True(response.IsSuccessStatusCode, $"PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static async Task<HttpStatusCode> StatusAsync(HttpClient http, string path, HttpMethod? method = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, new Uri(path, UriKind.Relative));
        using var response = await http.SendAsync(request);
        return response.StatusCode;
    }

    private static Task WaitForStatusAsync(HttpClient http, string path, HttpStatusCode status) =>
        Eventually.WaitUntilAsync(async () => await StatusAsync(http, path) == status, Deadline, $"{path} answers {status} on {http.BaseAddress}");

    private static async Task<long> PendingAsync(HttpClient http, string subscription)
    {
        using var json = JsonDocument.Parse(await http.GetStringAsync(new Uri($"api/subscriptions/{subscription}", UriKind.Relative)));
        return json.RootElement.GetProperty("pendingEvents").GetInt64();
    }

    // One event received with a long poll (the first that arrives within the deadline): its lock token and its data.n.
    private static async Task<(string LockToken, int N)> ReceiveAsync(HttpClient http, string subscription, int maxEvents)
    {
        using var response = await http.PostAsync(new Uri(
            $"api/subscriptions/{subscription}/events:receive?maxEvents={maxEvents.ToString(CultureInfo.InvariantCulture)}&maxWaitTime=10", UriKind.Relative), null);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"receive on {http.BaseAddress}: {(int)response.StatusCode} {text}");
        using var json = JsonDocument.Parse(text);
        var received = Assert.Single(json.RootElement.GetProperty("value").EnumerateArray());
        return (received.GetProperty("brokerProperties").GetProperty("lockToken").GetString()!,
            received.GetProperty("event").GetProperty("data").GetProperty("n").GetInt32());
    }

    private static async Task AcknowledgeAsync(HttpClient http, string subscription, string lockToken)
    {
        using var response = await http.PostAsJsonAsync(new Uri($"api/subscriptions/{subscription}/events:acknowledge", UriKind.Relative),
            new { lockTokens = new[] { lockToken } });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        using var json = JsonDocument.Parse(text);
        Assert.Equal(lockToken, Assert.Single(json.RootElement.GetProperty("succeededLockTokens").EnumerateArray()).GetString());
    }

    private Task PublishAsync(int node, string topic, string payload) => PublishAsync(node, [(topic, payload)]);

    // QoS 1 on one connection, each acknowledged (so routed and recorded) before the next is sent.
    private async Task PublishAsync(int node, IReadOnlyList<(string Topic, string Payload)> messages)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", Brokers.MqttPort(node))
            .WithClientId(TestIds.ClientId("crtpub")).Build());
        foreach (var (topic, payload) in messages)
        {
            var result = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.True(result.IsSuccess, result.ReasonCode.ToString());
        }

        await client.DisconnectAsync();
    }
}
