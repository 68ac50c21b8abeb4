using System.Collections.Concurrent;
using Iot.Broker.IntegrationTests.Cluster.Sessions;
using Iot.Broker.IntegrationTests.Security;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Security;

/// <summary>
/// Deny rules on overlapping filters hold in cluster mode for what is queued: a persistent session's QoS 1/2 messages,
/// and a shared group's, are appended to its JetStream queue by the node they were published on, which does not know
/// the rules that overlap the session's filters; the session's own node drops the denied ones before they are sent,
/// connected or when the session resumes elsewhere (docs/configuration.md, "Deny rules on overlapping filters").
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterDenyOverlapTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task PersistentHashAndSharedHash_PublishedOnAnotherNode_NeverGetTheDeniedTopics_ConnectedOrResumed()
    {
        await using var cluster = await SessionsClusterHarness.StartAsync();
        var nodes = await cluster.StartBrokersAsync(2, DenyOverlapTests.Args);
        var (a, b) = (nodes[0], nodes[1]);
        var plain = new ConcurrentQueue<(string Topic, string Payload)>();
        var shared = new ConcurrentQueue<(string Topic, string Payload)>();
        var plainId = TestIds.ClientId("dnyp");
        try
        {
            using var plainClient = ClusterSessionClients.Recording(plain);
            using var sharedClient = ClusterSessionClients.Recording(shared);
            await plainClient.ConnectAsync(Service(b, plainId));
            await ClusterSessionClients.SubscribeAsync(plainClient, "#");
            await sharedClient.ConnectAsync(Service(b, TestIds.ClientId("dnys")));
            await ClusterSessionClients.SubscribeAsync(sharedClient, "$share/g/#");

            // The denied message goes first on the publisher's connection and queue order is kept: when the marker has
            // arrived, the denied one was read before it.
            await PublishAsync(a, ("secret/x", "live-secret"), ("a/x", "marker"));
            await Eventually.WaitUntilAsync(() => plain.Any(m => m.Topic == "a/x") && shared.Any(m => m.Topic == "a/x"), Wait, "the markers arrive");
            Assert.DoesNotContain(plain, m => m.Topic.StartsWith("secret", StringComparison.Ordinal));
            Assert.DoesNotContain(shared, m => m.Topic.StartsWith("secret", StringComparison.Ordinal));

            // Away: both are queued; the session resumes on the publishing node and gets the marker only.
            await plainClient.DisconnectAsync();
            await PublishAsync(a, ("secret/y", "queued-secret"), ("a/y", "queued-marker"));
            using var back = ClusterSessionClients.Recording(plain);
            var connack = await back.ConnectAsync(Service(a, plainId));
            Assert.True(connack.IsSessionPresent);
            await Eventually.WaitUntilAsync(() => plain.Any(m => m.Topic == "a/y"), Wait, "the queued marker arrives");
            Assert.DoesNotContain(plain, m => m.Topic.StartsWith("secret", StringComparison.Ordinal));
        }
        catch
        {
            output.WriteLine($"plain: {string.Join(' ', plain.Select(m => m.Topic))}; shared: {string.Join(' ', shared.Select(m => m.Topic))}\n{cluster.Diagnostics()}");
            throw;
        }
    }

    private static MqttClientOptions Service(BrokerProcess broker, string clientId) =>
        new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", broker.MqttPort)
            .WithClientId(clientId)
            .WithCredentials("svc", DenyOverlapTests.ServicePassword)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart(false)
            .WithSessionExpiryInterval(3600)
            .WithTimeout(TimeSpan.FromSeconds(15))
            .Build();

    private static async Task PublishAsync(BrokerProcess broker, params (string Topic, string Payload)[] messages)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var options = Service(broker, TestIds.ClientId("dnypub"));
        options.CleanSession = true;
        options.SessionExpiryInterval = 0;
        await client.ConnectAsync(options);
        foreach (var (topic, payload) in messages)
        {
            var result = await client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.True(result.IsSuccess, $"publish {topic}: {result.ReasonCode}");
        }

        await client.DisconnectAsync();
    }
}
