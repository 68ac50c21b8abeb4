using System.Collections.Concurrent;
using System.Diagnostics;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Sessions;

/// <summary>
/// Issue 18, done-when item 6 (the will half), with a real nats-server and two broker child processes: the wills of the
/// clients connected to a node killed with <c>kill -9</c> are published by the node that claims it, once each, within
/// the node timeout plus the will delay.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class ClusterWillTests(ITestOutputHelper output)
{
    private static readonly TimeSpan NodeTimeout = TimeSpan.FromSeconds(3);

    /// <summary>What the claim may add beyond the node timeout: a heartbeat period, the watch and the claim itself.</summary>
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(2.5);

    [Fact]
    public async Task NodeKilledWithClientsThatHaveWills_EachWillIsPublishedOnce_WithinNodeTimeoutPlusWillDelay()
    {
        await using var cluster = await SessionsClusterHarness.StartAsync(servers: 1);
        string[] timing = ["--Iot:Cluster:HeartbeatInterval=00:00:01", "--Iot:Cluster:NodeTimeout=00:00:03"];
        var nodes = await cluster.StartBrokersAsync(2, timing);
        var (a, b) = (nodes[0], nodes[1]);
        var run = TestIds.Topic("wills");
        var received = new ConcurrentQueue<(string Topic, string Payload, TimeSpan At)>();
        var clock = new Stopwatch();
        try
        {
            using var watcher = new MqttClientFactory().CreateMqttClient();
            watcher.ApplicationMessageReceivedAsync += e =>
            {
                received.Enqueue((e.ApplicationMessage.Topic, e.ApplicationMessage.ConvertPayloadToString(), clock.Elapsed));
                return Task.CompletedTask;
            };
            await watcher.ConnectAsync(ClusterSessionClients.Options(b, TestIds.ClientId("watch"), cleanStart: true, expiry: 0));
            await ClusterSessionClients.SubscribeAsync(watcher, run + "/#");

            // One client without a session and no will delay, one with a persistent session and a will delay of 2 s.
            using var plain = new MqttClientFactory().CreateMqttClient();
            await plain.ConnectAsync(WithWill(a, TestIds.ClientId("plain"), run + "/plain", expiry: 0, delay: 0));
            using var delayed = new MqttClientFactory().CreateMqttClient();
            await delayed.ConnectAsync(WithWill(a, TestIds.ClientId("later"), run + "/delayed", expiry: 600, delay: 2));

            clock.Start();
            await cluster.KillBrokerAsync(0);

            await Eventually.WaitUntilAsync(() => received.Any(m => m.Payload == "plain-will") && received.Any(m => m.Payload == "delayed-will"),
                TimeSpan.FromSeconds(30), "both wills are published");
            var plainAt = received.First(m => m.Payload == "plain-will").At;
            var delayedAt = received.First(m => m.Payload == "delayed-will").At;
            output.WriteLine($"wills after {plainAt.TotalSeconds:F1} s and {delayedAt.TotalSeconds:F1} s");
            Assert.True(plainAt <= NodeTimeout + Margin, $"the will without delay came after {plainAt.TotalSeconds:F1} s");
            Assert.True(delayedAt <= NodeTimeout + TimeSpan.FromSeconds(2) + Margin, $"the delayed will came after {delayedAt.TotalSeconds:F1} s");
            Assert.True(delayedAt >= TimeSpan.FromSeconds(2), "the delayed will waited for its delay");

            // Once: a marker published after both, through b, arrives after no second copy.
            using var publisher = new MqttClientFactory().CreateMqttClient();
            await publisher.ConnectAsync(ClusterSessionClients.Options(b, TestIds.ClientId("pub"), cleanStart: true, expiry: 0));
            await Task.Delay(TimeSpan.FromSeconds(2));
            await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(run + "/marker").WithPayload("marker")
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            await Eventually.WaitUntilAsync(() => received.Any(m => m.Payload == "marker"), TimeSpan.FromSeconds(10), "the marker arrives");
            Assert.Equal(1, received.Count(m => m.Payload == "plain-will"));
            Assert.Equal(1, received.Count(m => m.Payload == "delayed-will"));
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task NodeKilledWhileAWillWaitsForItsDelay_TheClaimingNodePublishesItOnceWhenDue()
    {
        await using var cluster = await SessionsClusterHarness.StartAsync(servers: 1);
        string[] timing = ["--Iot:Cluster:HeartbeatInterval=00:00:01", "--Iot:Cluster:NodeTimeout=00:00:03"];
        var nodes = await cluster.StartBrokersAsync(2, timing);
        var (a, b) = (nodes[0], nodes[1]);
        var run = TestIds.Topic("delayed-will");
        var received = new ConcurrentQueue<(string Payload, TimeSpan At)>();
        var clock = new Stopwatch();
        try
        {
            using var watcher = new MqttClientFactory().CreateMqttClient();
            watcher.ApplicationMessageReceivedAsync += e =>
            {
                received.Enqueue((e.ApplicationMessage.ConvertPayloadToString(), clock.Elapsed));
                return Task.CompletedTask;
            };
            await watcher.ConnectAsync(ClusterSessionClients.Options(b, TestIds.ClientId("watch"), cleanStart: true, expiry: 0));
            await ClusterSessionClients.SubscribeAsync(watcher, run + "/#");

            // The client leaves node A asking for its will, which waits 6 s; node A dies while it waits.
            const int Delay = 6;
            var clientId = TestIds.ClientId("leaves");
            using var leaving = new MqttClientFactory().CreateMqttClient();
            await leaving.ConnectAsync(WithWill(a, clientId, run + "/delayed", expiry: 600, delay: Delay));
            await leaving.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.DisconnectWithWillMessage).Build());
            clock.Start();
            await Eventually.WaitUntilAsync(async () => await cluster.ReadRecordAsync(clientId) is { Connected: false, Will: not null },
                TimeSpan.FromSeconds(10), "node A recorded the disconnected session with its waiting will");
            await cluster.KillBrokerAsync(0);

            await Eventually.WaitUntilAsync(() => received.Any(m => m.Payload == "delayed-will"), TimeSpan.FromSeconds(30), "the will is published");
            var at = received.First(m => m.Payload == "delayed-will").At;
            output.WriteLine($"will after {at.TotalSeconds:F1} s");
            Assert.True(at >= TimeSpan.FromSeconds(Delay) - TimeSpan.FromMilliseconds(500), $"the will came after {at.TotalSeconds:F1} s, before its delay");
            Assert.True(at <= TimeSpan.FromSeconds(Delay) + NodeTimeout + Margin, $"the will came after {at.TotalSeconds:F1} s");
            await Eventually.WaitUntilAsync(async () => await cluster.ReadRecordAsync(clientId) is { Will: null }, TimeSpan.FromSeconds(10),
                "the published will is gone from the record");

            using var publisher = new MqttClientFactory().CreateMqttClient();
            await publisher.ConnectAsync(ClusterSessionClients.Options(b, TestIds.ClientId("pub"), cleanStart: true, expiry: 0));
            await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(run + "/marker").WithPayload("marker")
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            await Eventually.WaitUntilAsync(() => received.Any(m => m.Payload == "marker"), TimeSpan.FromSeconds(10), "the marker arrives");
            Assert.Equal(1, received.Count(m => m.Payload == "delayed-will"));
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static MqttClientOptions WithWill(BrokerProcess broker, string clientId, string topic, uint expiry, uint delay) =>
        new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", broker.MqttPort).WithClientId(clientId).WithProtocolVersion(MQTTnet.Formatter.MqttProtocolVersion.V500)
            .WithCleanStart(true).WithSessionExpiryInterval(expiry)
            .WithWillTopic(topic).WithWillPayload(topic.EndsWith("/plain", StringComparison.Ordinal) ? "plain-will" : "delayed-will")
            .WithWillQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithWillDelayInterval(delay).Build();
}
