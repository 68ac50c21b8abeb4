using System.Collections.Concurrent;
using System.Diagnostics;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Sessions;

/// <summary>
/// Issue 18, done-when item 4 and session ownership cluster-wide, with a real nats-server and two broker child
/// processes: a CONNECT on one node takes the session from the other (0x8E there within 1 s, session present, no will),
/// concurrent CONNECTs with one client id on both nodes leave exactly one live connection, and another identity's
/// CONNECT is refused with 0x85 whatever node it reaches.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class ClusterTakeoverTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ConnectOnAnotherNode_ClosesTheOldConnectionWith0x8EWithinOneSecond_ResumesTheSession_AndPublishesNoWill()
    {
        await using var cluster = await SessionsClusterHarness.StartAsync(servers: 1);
        var nodes = await cluster.StartBrokersAsync(2);
        var (a, b) = (nodes[0], nodes[1]);
        var run = TestIds.Topic("takeover");
        var clientId = TestIds.ClientId("moving");
        var received = new ConcurrentQueue<(string Topic, string Payload)>();
        try
        {
            using var watcher = ClusterSessionClients.Recording(received);
            await watcher.ConnectAsync(ClusterSessionClients.Options(a, TestIds.ClientId("watch"), cleanStart: true, expiry: 0));
            await ClusterSessionClients.SubscribeAsync(watcher, run + "/will");
            await ClusterSessionClients.SubscribeAsync(watcher, run + "/marker");

            using var old = new MqttClientFactory().CreateMqttClient();
            var closed = new TaskCompletionSource<(MqttClientDisconnectReason Reason, TimeSpan At)>(TaskCreationOptions.RunContinuationsAsynchronously);
            var clock = Stopwatch.StartNew();
            old.DisconnectedAsync += e =>
            {
                closed.TrySetResult((e.Reason, clock.Elapsed));
                return Task.CompletedTask;
            };
            var withWill = new MqttClientOptionsBuilder()
                .WithTcpServer("127.0.0.1", a.MqttPort).WithClientId(clientId).WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
                .WithCleanStart(false).WithSessionExpiryInterval(3600)
                .WithWillTopic(run + "/will").WithWillPayload("will").WithWillDelayInterval(1).Build();
            await old.ConnectAsync(withWill);
            await ClusterSessionClients.SubscribeAsync(old, run + "/data");

            var moved = new ConcurrentQueue<(string Topic, string Payload)>();
            using var fresh = ClusterSessionClients.Recording(moved);
            var connectedAt = clock.Elapsed;
            var connack = await fresh.ConnectAsync(ClusterSessionClients.Options(b, clientId, cleanStart: false));
            var (reason, at) = await closed.Task.WaitAsync(TimeSpan.FromSeconds(10));

            Assert.True(connack.IsSessionPresent, "session present on the new node");
            Assert.Equal(MqttClientDisconnectReason.SessionTakenOver, reason);
            Assert.True(at - connectedAt < TimeSpan.FromSeconds(1), $"0x8E after {(at - connectedAt).TotalMilliseconds:F0} ms");

            // The subscription made on a reaches the client on b.
            using var publisher = new MqttClientFactory().CreateMqttClient();
            await publisher.ConnectAsync(ClusterSessionClients.Options(a, TestIds.ClientId("pub"), cleanStart: true, expiry: 0));
            await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(run + "/data").WithPayload("after")
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            await Eventually.WaitUntilAsync(() => moved.Any(m => m.Payload == "after"), TimeSpan.FromSeconds(10), "the resumed subscription delivers on b");

            // No will: its delay (1 s) passes, then a marker through the will's node arrives with no will before it.
            await Task.Delay(TimeSpan.FromSeconds(2));
            await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(run + "/marker").WithPayload("marker")
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            await Eventually.WaitUntilAsync(() => received.Any(m => m.Payload == "marker"), TimeSpan.FromSeconds(10), "the marker arrives");
            Assert.DoesNotContain(received, m => m.Payload == "will");
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task HundredConcurrentConnects_OneClientIdOnTwoNodes_EndWithExactlyOneLiveConnection()
    {
        await using var cluster = await SessionsClusterHarness.StartAsync(servers: 1);
        var nodes = await cluster.StartBrokersAsync(2);
        var (a, b) = (nodes[0], nodes[1]);
        var run = TestIds.Topic("race");
        var clientId = TestIds.ClientId("racer");
        var clients = new List<(IMqttClient Client, ConcurrentQueue<(string Topic, string Payload)> Received)>();
        try
        {
            for (var i = 0; i < 100; i++)
            {
                var queue = new ConcurrentQueue<(string Topic, string Payload)>();
                clients.Add((ClusterSessionClients.Recording(queue), queue));
            }

            await Task.WhenAll(clients.Select(async (c, i) =>
            {
                try
                {
                    await c.Client.ConnectAsync(ClusterSessionClients.Options(i % 2 == 0 ? a : b, clientId, cleanStart: false));
                }
                catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or MQTTnet.Adapter.MqttConnectingFailedException or OperationCanceledException)
                {
                    // Refused or closed while connecting: not a live connection.
                }
            }));

            await Eventually.WaitUntilAsync(() => clients.Count(c => c.Client.IsConnected) <= 1, TimeSpan.FromSeconds(20), "at most one connection stays");
            var live = clients.Where(c => c.Client.IsConnected).ToList();
            Assert.Single(live);

            // The survivor is live on the broker's side too: it subscribes and gets a message published on the other node.
            await ClusterSessionClients.SubscribeAsync(live[0].Client, run);
            using var publisher = new MqttClientFactory().CreateMqttClient();
            await publisher.ConnectAsync(ClusterSessionClients.Options(a, TestIds.ClientId("pub"), cleanStart: true, expiry: 0));
            await Eventually.WaitUntilAsync(async () =>
            {
                await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(run).WithPayload("ping")
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                return live[0].Received.Any(m => m.Payload == "ping");
            }, TimeSpan.FromSeconds(20), "the live connection gets messages");
            Assert.Equal(1, clients.Count(c => c.Client.IsConnected));
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
        finally
        {
            foreach (var (client, _) in clients)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task AnotherIdentity_SameClientIdOnAnotherNode_IsRefusedWith0x85_AndTheOwnerStaysConnected()
    {
        await using var cluster = await SessionsClusterHarness.StartAsync(servers: 1);
        string[] identities =
        [
            "--Iot:Security:AllowAnonymous=false",
            "--Iot:Security:Identities:0:Id=svc-owner", "--Iot:Security:Identities:0:Role=Service", "--Iot:Security:Identities:0:Password=owner-secret-1",
            "--Iot:Security:Identities:1:Id=svc-other", "--Iot:Security:Identities:1:Role=Service", "--Iot:Security:Identities:1:Password=other-secret-1",
        ];
        var nodes = await cluster.StartBrokersAsync(2, identities);
        var (a, b) = (nodes[0], nodes[1]);
        var clientId = TestIds.ClientId("owned");
        try
        {
            using var owner = new MqttClientFactory().CreateMqttClient();
            await owner.ConnectAsync(Credentials(a, clientId, "svc-owner", "owner-secret-1"));

            using var intruder = new MqttClientFactory().CreateMqttClient();
            var refused = await intruder.ConnectAsync(Credentials(b, clientId, "svc-other", "other-secret-1"));
            Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, refused.ResultCode);
            Assert.True(owner.IsConnected);
            await owner.PingAsync();
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static MqttClientOptions Credentials(BrokerProcess broker, string clientId, string user, string password) =>
        new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", broker.MqttPort).WithClientId(clientId).WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(false).WithSessionExpiryInterval(3600).WithCredentials(user, password).Build();
}
