using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Cluster;

/// <summary>
/// Issue 18, done-when 7 as far as it can run here: the Mosquitto client tests a single broker passes
/// (<see cref="MosquittoClientTestsBase"/>), against a two-node cluster with every subscriber (mosquitto_sub) on node B
/// and every publisher (mosquitto_pub, and the client whose will fires) on node A, so each message crosses nodes.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterMosquittoClientTests(TwoNodeCluster cluster) : MosquittoClientTestsBase, IClassFixture<TwoNodeCluster>
{
    protected override int SubscriberPort => cluster.Brokers.MqttPort(1);

    protected override int PublisherPort => cluster.Brokers.MqttPort(0);

    /// <summary>Through node A with MQTTnet, 100 QoS 1 publishes at a time (within the broker's Receive Maximum, 128), each a replicated JetStream write.</summary>
    protected override async Task SeedRetainedAsync(string root, int count)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, PublisherPort)
            .WithClientId(TestIds.ClientId("seed"))
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithTimeout(TimeSpan.FromSeconds(30))
            .Build());
        var writes = new List<Task<MqttClientPublishResult>>(100);
        for (var i = 0; i < count; i++)
        {
            writes.Add(client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic(RetainedSeed.Topic(root, i)).WithPayload("retained")
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag().Build()));
            if (writes.Count == 100 || i == count - 1)
            {
                Assert.All(await Task.WhenAll(writes), r => Assert.True(r.IsSuccess, $"PUBACK {r.ReasonCode}"));
                writes.Clear();
            }
        }

        await client.DisconnectAsync();
    }
}
