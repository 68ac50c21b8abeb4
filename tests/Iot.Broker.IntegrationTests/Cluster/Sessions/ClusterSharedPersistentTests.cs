using System.Collections.Concurrent;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Sessions;

/// <summary>
/// A persistent session as the member of a shared group in cluster mode: its QoS 1 messages come from its JetStream queue
/// (as for its other subscriptions), so the group's messages that NATS hands its node must go there. Connected, it gets
/// every message published on another node; disconnected, its node keeps the group's messages in its queue, and it gets
/// them when it comes back on a third node.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterSharedPersistentTests(ITestOutputHelper output)
{
    private const int Messages = 20;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task PersistentSharedMember_GetsTheGroupsQos1Messages_ConnectedAndAfterItComesBack()
    {
        await using var cluster = await SessionsClusterHarness.StartAsync();
        var nodes = await cluster.StartBrokersAsync(3);
        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);
        var topic = TestIds.Topic("shared-persistent");
        var clientId = TestIds.ClientId("shmem");
        var received = new ConcurrentQueue<(string Topic, string Payload)>();
        try
        {
            using (var member = ClusterSessionClients.Recording(received))
            {
                await member.ConnectAsync(ClusterSessionClients.Options(b, clientId, cleanStart: false));
                await member.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
                    .WithTopicFilter(f => f.WithTopic("$share/workers/" + topic).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)).Build());

                await ClusterSessionClients.PublishAsync(a, topic, MqttQualityOfServiceLevel.AtLeastOnce, Payloads("live"));
                await Eventually.WaitUntilAsync(() => Count(received, "live") == Messages, Wait, $"{Messages} shared messages reach the connected member");
                await member.DisconnectAsync();
            }

            // Its session stays on b, and with it b's place in the group: what NATS hands b goes to the session's queue.
            await ClusterSessionClients.PublishAsync(a, topic, MqttQualityOfServiceLevel.AtLeastOnce, Payloads("away"));
            using var back = ClusterSessionClients.Recording(received);
            var connack = await back.ConnectAsync(ClusterSessionClients.Options(c, clientId, cleanStart: false));
            Assert.True(connack.IsSessionPresent, "the session resumes on c");
            await Eventually.WaitUntilAsync(() => Count(received, "away") == Messages, Wait, $"{Messages} messages kept while away arrive");
            output.WriteLine($"received {received.Count}");
        }
        catch
        {
            output.WriteLine($"received {received.Count}\n{cluster.Diagnostics()}");
            throw;
        }
    }

    private static int Count(ConcurrentQueue<(string Topic, string Payload)> received, string prefix) =>
        received.Select(m => m.Payload).Where(p => p.StartsWith(prefix, StringComparison.Ordinal)).Distinct(StringComparer.Ordinal).Count();

    private static string[] Payloads(string prefix) => [.. Enumerable.Range(0, Messages).Select(i => $"{prefix}-{i}")];
}
