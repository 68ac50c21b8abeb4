using System.Net.Http.Json;
using System.Text;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Crossover;

/// <summary>
/// Crossover events on two broker nodes over three nats-server processes: a queue's periodic event is raised once by the
/// node holding the check's lease, not once per node; a connection event is raised by the node the client is connected
/// to and names it.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterCrossoverTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task QueueEvent_OnceForTheCluster_ConnectionEvent_FromTheNodeHoldingTheConnection()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        await using var queues = await WebhookSink.StartAsync();
        await using var connections = await WebhookSink.StartAsync();
        await using var brokers = await ClusterBrokers.StartAsync(nats, 2, "--Iot:Security:AllowAnonymous=true",
            "--Iot:Routing:WebhookAllowPrivateNetworks=true", "--Iot:Crossover:CheckInterval=00:00:00.100", "--Iot:Crossover:NoReceiverThreshold=00:00:01");
        try
        {
            using var a = new HttpClient { BaseAddress = brokers.HttpBaseAddress(0) };
            using var b = new HttpClient { BaseAddress = brokers.HttpBaseAddress(1) };
            var first = TestIds.ClientId("q");
            var second = TestIds.ClientId("q");
            var device = TestIds.ClientId("dev");
            await PutAsync(a, "api/subscriptions/queue-events", new
            {
                filter = new { topicFilter = "$iot/queues/+", includedEventTypes = new[] { "Iot.Queue.ActiveMessagesWithNoReceiver" } },
                destination = new { kind = "webhook", endpointUrl = queues.Url.ToString() },
            });
            await PutAsync(a, "api/subscriptions/connection-events", new
            {
                filter = new { topicFilter = "$iot/devices/" + device, includedEventTypes = new[] { "Iot.Device.Connected" } },
                destination = new { kind = "webhook", endpointUrl = connections.Url.ToString() },
            });

            // A message nobody receives, sent through the other node.
            await PutAsync(a, $"api/queues/{first}", new { });
            await SendAsync(b, first);
            await Eventually.WaitUntilAsync(() => queues.Subjects().Contains("$iot/queues/" + first), Deadline, "the first queue's event");

            // A second queue's event comes at least a second (ten checks) later; had both nodes checked, the first
            // queue would have had its second event by then.
            await PutAsync(b, $"api/queues/{second}", new { });
            await SendAsync(a, second);
            await Eventually.WaitUntilAsync(() => queues.Subjects().Contains("$iot/queues/" + second), Deadline, "the second queue's event");
            Assert.Single(queues.Subjects(), s => s == "$iot/queues/" + first);

            using (var client = new MqttClientFactory().CreateMqttClient())
            {
                await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer(BrokerFixture.Host, brokers.MqttPort(1)).WithClientId(device).Build());
                await client.DisconnectAsync();
            }

            await Eventually.WaitUntilAsync(() => !connections.Events.IsEmpty, Deadline, "the connected event");
            var connected = Assert.Single(connections.Events);
            Assert.Equal(ClusterBrokers.NodeId(1), connected.GetProperty("data").GetProperty("node").GetString());
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    private static async Task PutAsync(HttpClient http, string path, object body)
    {
        using var response = await http.PutAsJsonAsync(new Uri(path, UriKind.Relative), body);
        Assert.True(response.IsSuccessStatusCode, $"PUT {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static async Task SendAsync(HttpClient http, string queue)
    {
        using var response = await http.PostAsync(new Uri($"api/queues/{queue}/messages", UriKind.Relative),
            new StringContent("{\"n\":1}", Encoding.UTF8, "application/json"));
        Assert.True(response.IsSuccessStatusCode, $"send to {queue}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }
}
