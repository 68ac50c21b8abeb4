using System.Collections.Concurrent;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Sessions;

/// <summary>
/// A persistent session as the member of a shared group in cluster mode: its QoS 1 messages come from its JetStream queue
/// (as for its other subscriptions), where the node a message is published on puts the group's copy before its PUBACK.
/// Connected, it gets every message published on another node; disconnected, its queue keeps the group's messages, and
/// it gets them when it comes back on a third node, also when the node it was on was killed. A group of a clean and a
/// persistent member on two nodes gets each message once.
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

    [Fact]
    public async Task PersistentMembersNodeKilledMidRun_EveryAcknowledgedMessageReachesTheGroup_WhenTheMembersComeBackElsewhere()
    {
        await using var cluster = await SessionsClusterHarness.StartAsync();
        var nodes = await cluster.StartBrokersAsync(3);
        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);
        var topic = TestIds.Topic("shared-killed");
        var filter = "$share/workers/" + topic;
        string[] members = [TestIds.ClientId("shk1"), TestIds.ClientId("shk2")];
        var received = new ConcurrentQueue<(string Topic, string Payload)>();
        var acknowledged = new ConcurrentDictionary<string, DateTime>(StringComparer.Ordinal);
        const int Total = 300;
        var clients = new List<IMqttClient>();
        try
        {
            foreach (var member in members)
            {
                var client = ClusterSessionClients.Recording(received);
                clients.Add(client);
                await client.ConnectAsync(ClusterSessionClients.Options(b, member, cleanStart: false));
                await ClusterSessionClients.SubscribeAsync(client, filter);
            }

            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            var publisher = Task.Run(() => ClusterSessionClients.PublishInOrderAsync(() => a, topic, Total, acknowledged, stop.Token));
            await Eventually.WaitUntilAsync(() => acknowledged.Count >= Total / 3, Wait, "a third of the messages acknowledged");
            await cluster.KillBrokerAsync(1);
            output.WriteLine($"killed b after {acknowledged.Count} acknowledged, {received.Count} received");
            await publisher;

            // Every PUBACK after the kill too: the group's copy went to a member's queue, not to the dead node.
            foreach (var member in members)
            {
                var client = ClusterSessionClients.Recording(received);
                clients.Add(client);
                var connack = await client.ConnectAsync(ClusterSessionClients.Options(c, member, cleanStart: false));
                Assert.True(connack.IsSessionPresent, $"the session of {member} resumes on c");
            }

            await Eventually.WaitUntilAsync(
                () => acknowledged.Keys.All(new HashSet<string>(received.Select(m => m.Payload), StringComparer.Ordinal).Contains),
                TimeSpan.FromSeconds(60), "every acknowledged message reaches a member of the group");
            output.WriteLine($"acknowledged {acknowledged.Count}, received {received.Count}");
        }
        catch
        {
            var arrived = new HashSet<string>(received.Select(m => m.Payload), StringComparer.Ordinal);
            output.WriteLine($"acknowledged {acknowledged.Count}, received {received.Count}, missing {string.Join(' ', acknowledged.Keys.Where(k => !arrived.Contains(k)).Take(20))}\n{cluster.Diagnostics()}");
            throw;
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task CleanAndPersistentMembersOnTwoNodes_EachMessageReachesTheGroupOnce_AndBothTakeTurns()
    {
        await using var cluster = await SessionsClusterHarness.StartAsync();
        var nodes = await cluster.StartBrokersAsync(3);
        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);
        var topic = TestIds.Topic("shared-mixed");
        var filter = "$share/mixed/" + topic;
        var clean = new ConcurrentQueue<(string Topic, string Payload)>();
        var persistent = new ConcurrentQueue<(string Topic, string Payload)>();
        using var cleanMember = ClusterSessionClients.Recording(clean);
        using var persistentMember = ClusterSessionClients.Recording(persistent);
        await cleanMember.ConnectAsync(ClusterSessionClients.Options(a, TestIds.ClientId("mixc"), cleanStart: true, expiry: 0));
        await ClusterSessionClients.SubscribeAsync(cleanMember, filter);
        await persistentMember.ConnectAsync(ClusterSessionClients.Options(b, TestIds.ClientId("mixp"), cleanStart: false));
        await ClusterSessionClients.SubscribeAsync(persistentMember, filter);

        await ClusterSessionClients.PublishAsync(c, topic, MqttQualityOfServiceLevel.AtLeastOnce, Payloads("m"));
        await Eventually.WaitUntilAsync(() => clean.Count + persistent.Count >= Messages, Wait, $"{Messages} messages reach the group");
        var all = clean.Concat(persistent).Select(m => m.Payload).ToList();
        output.WriteLine($"clean member {clean.Count}, persistent member {persistent.Count}");
        Assert.Equal(Messages, all.Count);
        Assert.Equal(Messages, all.Distinct(StringComparer.Ordinal).Count());
        Assert.NotEmpty(clean);
        Assert.NotEmpty(persistent);
    }

    private static int Count(ConcurrentQueue<(string Topic, string Payload)> received, string prefix) =>
        received.Select(m => m.Payload).Where(p => p.StartsWith(prefix, StringComparison.Ordinal)).Distinct(StringComparer.Ordinal).Count();

    private static string[] Payloads(string prefix) => [.. Enumerable.Range(0, Messages).Select(i => $"{prefix}-{i}")];
}
