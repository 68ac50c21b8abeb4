using System.Collections.Concurrent;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Sessions;

/// <summary>
/// A persistent session resumed by a CONNECT whose Session Expiry Interval is 0 (the session ends with that connection,
/// as the Paho MQTT 5 conformance suite's offline-queueing and expiry tests do it) still gets the QoS 1 messages queued
/// for it in JetStream while it was away. Found by that suite against a node of a three-node cluster: it got none.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterResumeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ResumedWithSessionExpiryZero_GetsWhatWasQueuedWhileAway()
    {
        await using var cluster = await SessionsClusterHarness.StartAsync(servers: 1);
        var nodes = await cluster.StartBrokersAsync(2);
        var (a, b) = (nodes[0], nodes[1]);
        var topic = TestIds.Topic("resume0") + "/data";
        var clientId = TestIds.ClientId("away");
        try
        {
            using var publisher = new MqttClientFactory().CreateMqttClient();
            await publisher.ConnectAsync(ClusterSessionClients.Options(b, TestIds.ClientId("pub"), cleanStart: true, expiry: 0));

            var received = new ConcurrentQueue<(string Topic, string Payload)>();
            using (var subscriber = ClusterSessionClients.Recording(received))
            {
                await subscriber.ConnectAsync(ClusterSessionClients.Options(a, clientId, cleanStart: true, expiry: 3600));
                await ClusterSessionClients.SubscribeAsync(subscriber, topic);

                // A connected persistent session gets QoS 1 only through its JetStream queue: once a probe published on
                // b arrives, b knows the subscription and appends for it.
                await Eventually.WaitUntilAsync(async () =>
                {
                    await PublishAsync(publisher, topic, "probe");
                    return received.Any(m => m.Payload == "probe");
                }, TimeSpan.FromSeconds(30), "a probe published on b reaches the persistent subscriber on a");
                await subscriber.DisconnectAsync();
            }

            await PublishAsync(publisher, topic, "while-away");

            var resumed = new ConcurrentQueue<(string Topic, string Payload)>();
            using var back = ClusterSessionClients.Recording(resumed);
            var connack = await back.ConnectAsync(ClusterSessionClients.Options(a, clientId, cleanStart: false, expiry: 0));
            Assert.True(connack.IsSessionPresent, "session present");
            await Eventually.WaitUntilAsync(() => resumed.Any(m => m.Payload == "while-away"), TimeSpan.FromSeconds(15),
                "the message queued while the session was away arrives after a resume with Session Expiry Interval 0");

            // From now on its messages come live only: once each, not also through its queue. Paho's
            // test_client_topic_alias found two copies: the other node's index kept matching the session after its
            // record stopped being persistent. The marker after it proves nothing more is on the way.
            await PublishAsync(publisher, topic, "after-resume");
            await PublishAsync(publisher, topic, "marker");
            await Eventually.WaitUntilAsync(() => resumed.Any(m => m.Payload == "marker"), TimeSpan.FromSeconds(15), "the marker arrives");
            Assert.Single(resumed, m => m.Payload == "after-resume");
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static Task<MqttClientPublishResult> PublishAsync(IMqttClient publisher, string topic, string payload) =>
        publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
}
