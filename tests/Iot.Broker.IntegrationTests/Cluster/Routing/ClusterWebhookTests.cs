using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Routing;

/// <summary>
/// Issue 19, done-when 4: webhook push in a cluster of two brokers on three real nats-server processes. The
/// subscription's delivery loop runs on the node that holds its lease; every matching event reaches the endpoint, once
/// while both nodes live (two nodes never send one attempt); <c>kill -9</c> of the delivering node moves delivery to the
/// other within the lease duration plus 5 s, losing nothing; dead-lettering still works, seen through either node.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterWebhookTests(ITestOutputHelper output)
{
    private static readonly TimeSpan LeaseDuration = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task WebhookEvents_OncePerEventFromOneNode_KillOfTheDeliveringNodeMovesDeliveryWithinLeasePlusFiveSeconds_DeadLettersSeenOnEitherNode()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        await using var sink = await WebhookSink.StartAsync();
        await using var brokers = await ClusterBrokers.StartAsync(nats, 2,
            "--Iot:Routing:WebhookAllowPrivateNetworks=true", "--Iot:Cluster:LeaseDuration=00:00:03", "--Iot:Cluster:LeaseSafetyMargin=00:00:01");
        try
        {
            using var a = Api(brokers, 0);
            using var b = Api(brokers, 1);
            var device = TestIds.ClientId("cwh");
            await PutAsync(a, "api/subscriptions/hooks", new
            {
                filter = new { topicFilter = $"devices/{device}/events/#" },
                destination = new { kind = "webhook", endpointUrl = sink.Url.ToString() },
            });

            // A subscription whose endpoint refuses connections and which gives up after one attempt: dead-lettered.
            var closedPort = FreePorts.One();
            await PutAsync(a, "api/subscriptions/doomed", new
            {
                filter = new { topicFilter = $"devices/{device}/events/doomed" },
                destination = new { kind = "webhook", endpointUrl = $"http://127.0.0.1:{closedPort}/hook" },
                retryPolicy = new { maxDeliveryAttempts = 1 },
                deadLetter = new { enabled = true },
            });

            // Published through both nodes while both live: each event arrives exactly once.
            for (var n = 0; n < 20; n++)
            {
                await PublishAsync(brokers, n % 2, $"devices/{device}/events/reading", n);
            }

            await Eventually.WaitUntilAsync(() => Numbers(sink).Count >= 20, Deadline, "the first 20 events delivered");
            var first = Numbers(sink);
            Assert.Equal(Enumerable.Range(0, 20), first.Order());

            // Exactly one node runs the loop (it logs its start); kill -9 it and publish through the other.
            var holder = await Eventually.WaitForAsync(() => Task.FromResult(Enumerable.Range(0, 2).Where(i => StartedLoop(brokers, i)).ToList()),
                nodes => nodes.Count > 0, Deadline, "a node runs the delivery loop");
            Assert.Single(holder);
            var survivor = 1 - holder[0];
            output.WriteLine($"node-{holder[0]} delivers; killing it");
            await brokers.KillAsync(holder[0]);
            var killed = Stopwatch.StartNew();
            await PublishAsync(brokers, survivor, $"devices/{device}/events/reading", 20);
            await Eventually.WaitUntilAsync(() => Numbers(sink).Contains(20), Deadline, "the event published after the kill delivered by the survivor");
            var moved = killed.Elapsed;
            output.WriteLine($"delivered by node-{survivor} {moved.TotalSeconds:0.00} s after the kill");
            Assert.True(moved <= LeaseDuration + TimeSpan.FromSeconds(5), $"delivery moved after {moved}");
            Assert.True(StartedLoop(brokers, survivor), "the survivor started the loop");

            // Nothing lost: every event 0..20 arrived (one sent by the killed node may come twice: at least once).
            Assert.Equal(Enumerable.Range(0, 21), Numbers(sink).Distinct().Order());

            // Dead-lettering in the cluster: published through the survivor, listed there and by the subscription's count.
            await PublishAsync(brokers, survivor, $"devices/{device}/events/doomed", 99);
            using var survivorApi = Api(brokers, survivor);
            await Eventually.WaitUntilAsync(async () => await DeadLettersAsync(survivorApi, "doomed") == 1, Deadline, "the doomed event dead-lettered");
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    private static bool StartedLoop(ClusterBrokers brokers, int node) =>
        brokers.IsRunning(node) && brokers.Output(node).Contains("Webhook delivery started for subscription hooks", StringComparison.Ordinal);

    private static List<int> Numbers(WebhookSink sink) =>
        [.. sink.Events.Select(e => e.GetProperty("data").GetProperty("n").GetInt32())];

    private static HttpClient Api(ClusterBrokers brokers, int node) =>
        new() { BaseAddress = brokers.HttpBaseAddress(node), Timeout = TimeSpan.FromSeconds(30) };

    private static async Task PutAsync(HttpClient http, string path, object body)
    {
        using var response = await http.PutAsJsonAsync(new Uri(path, UriKind.Relative), body);
        Assert.True(response.IsSuccessStatusCode, $"PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static async Task<int> DeadLettersAsync(HttpClient http, string subscription)
    {
        using var json = JsonDocument.Parse(await http.GetStringAsync(new Uri($"api/subscriptions/{subscription}/deadletters", UriKind.Relative)));
        return json.RootElement.GetProperty("value").GetArrayLength();
    }

    // QoS 1: acknowledged, so routed and recorded, before it returns.
    private static async Task PublishAsync(ClusterBrokers brokers, int node, string topic, int n)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(BrokerFixture.Host, brokers.MqttPort(node))
            .WithClientId(TestIds.ClientId("cwhpub")).Build());
        var result = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload($"{{\"n\":{n}}}")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True(result.IsSuccess, result.ReasonCode.ToString());
        await client.DisconnectAsync();
    }
}
