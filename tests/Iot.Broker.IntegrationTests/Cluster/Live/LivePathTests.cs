using System.Text;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Live;

/// <summary>
/// Issue 18, done-when 1: a message published on one node reaches the matching subscribers on the other nodes, once per
/// session at the highest granted QoS, with its MQTT 5 properties, every subscription identifier, Retain As Published and
/// the remaining expiry; every topic shape works; <c>$share</c> groups span nodes. Node 0 publishes, nodes 1 and 2 subscribe.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class LivePathTests(LiveClusterFixture cluster, ITestOutputHelper output) : IClassFixture<LiveClusterFixture>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task CrossNode_EveryTopicShapeAndQos_ArrivesOnceWithEverySubscriptionIdentifier()
    {
        var root = "lv" + Guid.NewGuid().ToString("N")[..8];
        await using var publisher = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(0), "lvpub");
        await using var onB = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(1), "lvsb");
        await using var onC = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(2), "lvsc");
        await onB.SubscribeAsync($"{root}/#", MqttQualityOfServiceLevel.ExactlyOnce, 1);
        await onB.SubscribeAsync($"{root}/+/leaf", MqttQualityOfServiceLevel.AtLeastOnce, 2);
        await onB.SubscribeAsync("#", MqttQualityOfServiceLevel.ExactlyOnce, 3);
        await onB.SubscribeAsync($"$x/{root}/#", MqttQualityOfServiceLevel.ExactlyOnce, 4);
        await onC.SubscribeAsync($"{root}/+/leaf", MqttQualityOfServiceLevel.ExactlyOnce, 5);
        await RunAsync(async () =>
        {
            await WaitForInterestAsync(publisher, $"{root}/probe/leaf", onB, onC);
            await WaitForInterestAsync(publisher, $"$x/{root}/probe", onB);

            // Topic -> (subscription identifiers on B, whether C's "+/leaf" matches).
            var topics = new (string Topic, uint[] OnB, bool OnC)[]
            {
                (root, [1, 3], false),                           // "a/#" matches "a"
                ($"{root}/a.b/leaf", [1, 2, 3], true),
                ($"{root}/*/leaf", [1, 2, 3], true),
                ($"{root}/>/leaf", [1, 2, 3], true),
                ($"{root}/%/leaf", [1, 2, 3], true),
                ($"{root}/%2E/leaf", [1, 2, 3], true),
                ($"{root}/sp ace\t/leaf", [1, 2, 3], true),
                ($"{root}//leaf", [1, 2, 3], true),               // an empty level
                ($"{root}/x/", [1, 3], false),                   // a trailing empty level
                ($"{root}/caf\u00e9 \u20ac/leaf", [1, 2, 3], true),
                ($"$x/{root}/y", [4], false),                    // a '$' topic: not matched by '#'
            };
            foreach (var qos in new[] { MqttQualityOfServiceLevel.AtMostOnce, MqttQualityOfServiceLevel.AtLeastOnce, MqttQualityOfServiceLevel.ExactlyOnce })
            {
                foreach (var (topic, _, _) in topics)
                {
                    await publisher.PublishAsync(topic, $"{(int)qos}|{topic}", qos);
                }

                // One origin's messages arrive in order: once the fence is in, every copy of the others is too.
                var fence = $"{root}/fence{(int)qos}/leaf";
                await publisher.PublishAsync(fence, "fence", qos);
                await onB.WaitForAsync(m => m.Topic == fence, Wait, $"fence {qos} on node 1");
                await onC.WaitForAsync(m => m.Topic == fence, Wait, $"fence {qos} on node 2");
                foreach (var (topic, idsOnB, onCToo) in topics)
                {
                    var payload = $"{(int)qos}|{topic}";
                    var copies = onB.Received.Where(m => Payload(m) == payload).ToList();
                    var copy = Assert.Single(copies);
                    Assert.Equal(topic, copy.Topic);
                    Assert.Equal(qos, copy.QualityOfServiceLevel);
                    Assert.Equal(idsOnB, copy.SubscriptionIdentifiers.Order());
                    var onCCopies = onC.Received.Count(m => Payload(m) == payload);
                    Assert.Equal(onCToo ? 1 : 0, onCCopies);
                }
            }
        });
    }

    [Fact]
    public async Task CrossNode_PropertiesRetainAsPublishedAndExpiry_Kept()
    {
        var root = "lv" + Guid.NewGuid().ToString("N")[..8];
        await using var publisher = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(0), "lvpub");
        await using var keepsRetain = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(1), "lvrap");
        await using var plain = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(1), "lvnrap");
        await keepsRetain.SubscribeAsync($"{root}/p/#", MqttQualityOfServiceLevel.ExactlyOnce, 7, f => f.WithRetainAsPublished(true));

        // No Local is about the subscriber's own messages: another client's still arrive.
        await plain.SubscribeAsync($"{root}/p/#", MqttQualityOfServiceLevel.AtLeastOnce, 0, f => f.WithNoLocal(true));
        await RunAsync(async () =>
        {
            await WaitForInterestAsync(publisher, $"{root}/p/probe", keepsRetain, plain);
            await publisher.PublishAsync($"{root}/p/msg", "body", MqttQualityOfServiceLevel.AtLeastOnce, retain: true, b => b
                .WithContentType("text/plain")
                .WithResponseTopic($"{root}/reply")
                .WithCorrelationData([1, 2, 3])
                .WithUserProperty("k", Encoding.UTF8.GetBytes("v1").AsMemory())
                .WithUserProperty("k", Encoding.UTF8.GetBytes("v2").AsMemory())
                .WithPayloadFormatIndicator(MqttPayloadFormatIndicator.CharacterData)
                .WithMessageExpiryInterval(100));

            var kept = await keepsRetain.WaitForAsync(m => m.Topic == $"{root}/p/msg", Wait, "the message with RAP");
            var cleared = await plain.WaitForAsync(m => m.Topic == $"{root}/p/msg", Wait, "the message without RAP");
            Assert.True(kept.Retain);
            Assert.False(cleared.Retain);
            foreach (var m in new[] { kept, cleared })
            {
                Assert.Equal("body", Payload(m));
                Assert.Equal("text/plain", m.ContentType);
                Assert.Equal($"{root}/reply", m.ResponseTopic);
                Assert.Equal(new byte[] { 1, 2, 3 }, m.CorrelationData);
                Assert.Equal(["k=v1", "k=v2"], m.UserProperties.Select(p => $"{p.Name}={p.ReadValueAsString()}"));
                Assert.Equal(MqttPayloadFormatIndicator.CharacterData, m.PayloadFormatIndicator);
                Assert.InRange(m.MessageExpiryInterval, 90u, 100u);
            }

            Assert.Equal([7u], kept.SubscriptionIdentifiers);
        });
    }

    [Fact]
    public async Task SharedGroup_MembersOnTwoNodes_EachMessageOnceAcrossTheGroup()
    {
        var root = "lv" + Guid.NewGuid().ToString("N")[..8];
        var filter = $"$share/g{root}/{root}/s/#";
        await using var memberA = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(0), "lvma");
        await using var memberB = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(1), "lvmb");
        await using var watcher = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(2), "lvwat");
        await using var publisherA = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(0), "lvpa");
        await using var publisherC = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(2), "lvpc");
        await memberA.SubscribeAsync(filter, MqttQualityOfServiceLevel.AtLeastOnce);
        await memberB.SubscribeAsync(filter, MqttQualityOfServiceLevel.AtLeastOnce);
        await watcher.SubscribeAsync($"{root}/s/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await RunAsync(async () =>
        {
            // Until then, the group is served by the members the publishing node already knows: still once per message.
            await WaitForInterestAsync(publisherC, $"{root}/s/probe", watcher);
            await WaitForInterestAsync(publisherA, $"{root}/s/probe", memberA, memberB);
            const int count = 40;
            for (var i = 0; i < count; i++)
            {
                await publisherA.PublishAsync($"{root}/s/a/{i}", $"a{i}", MqttQualityOfServiceLevel.AtLeastOnce);
                await publisherC.PublishAsync($"{root}/s/c/{i}", $"c{i}", MqttQualityOfServiceLevel.AtLeastOnce);
            }

            await Eventually.WaitUntilAsync(() => Delivered(memberA, memberB).Distinct().Count() == 2 * count, Wait, "every message to one member");
            await publisherA.PublishAsync($"{root}/s/fence", "fence", MqttQualityOfServiceLevel.AtLeastOnce);
            await publisherC.PublishAsync($"{root}/s/fence", "fence", MqttQualityOfServiceLevel.AtLeastOnce);
            await Eventually.WaitUntilAsync(() => Delivered(memberA, memberB).Count(p => p == "fence") == 2, Wait, "the fences");
            await watcher.WaitForAsync(m => Payload(m) == $"c{count - 1}", Wait, "the non-shared subscriber gets everything");
            var delivered = Delivered(memberA, memberB).Where(p => p != "fence").ToList();
            Assert.Equal(2 * count, delivered.Count);
            Assert.Equal(2 * count, delivered.Distinct().Count());
            Assert.Equal(2 * count, watcher.Received.Count(m => !m.Topic.EndsWith("probe", StringComparison.Ordinal) && Payload(m) != "fence"));
            output.WriteLine($"member on node 0 got {memberA.Received.Count}, member on node 1 got {memberB.Received.Count}");
        });
    }

    [Fact]
    public async Task SharedGroup_MemberOnlyOnAnotherNode_GetsEveryMessage()
    {
        var root = "lv" + Guid.NewGuid().ToString("N")[..8];
        await using var member = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(1), "lvmo");
        await using var publisher = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(0), "lvpo");
        await member.SubscribeAsync($"$share/only/{root}/#", MqttQualityOfServiceLevel.ExactlyOnce);
        await RunAsync(async () =>
        {
            await WaitForInterestAsync(publisher, $"{root}/probe", member);
            for (var i = 0; i < 10; i++)
            {
                await publisher.PublishAsync(root, $"m{i}", MqttQualityOfServiceLevel.ExactlyOnce);
            }

            await member.WaitForAsync(m => Payload(m) == "m9", Wait, "the last message");
            var got = member.Received.Where(m => m.Topic == root).ToList();
            Assert.Equal(Enumerable.Range(0, 10).Select(i => $"m{i}"), got.Select(Payload));
            Assert.All(got, m => Assert.Equal(MqttQualityOfServiceLevel.ExactlyOnce, m.QualityOfServiceLevel));
        });
    }

    [Fact]
    public async Task MosquittoClients_PublishOnOneNodeSubscribeOnAnother()
    {
        var root = "lv" + Guid.NewGuid().ToString("N")[..8];
        await using var subscriber = await ExternalClients.StartMosquittoSubAsync(
            "-h", BrokerFixture.Host, "-p", cluster.Brokers.MqttPort(1).ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-V", "mqttv5", "-q", "1", "-t", $"{root}/#");
        await RunAsync(async () =>
        {
            var port = cluster.Brokers.MqttPort(0).ToString(System.Globalization.CultureInfo.InvariantCulture);
            await Eventually.WaitUntilAsync(async () =>
            {
                await ExternalClients.MosquittoPubAsync("-h", BrokerFixture.Host, "-p", port, "-t", $"{root}/probe", "-m", "probe");
                return subscriber.Messages.Any(m => m.Topic == $"{root}/probe");
            }, Wait, "the subscription on node 1 to reach node 0");

            var topic = $"{root}/a.b c*>%/d";
            var published = await ExternalClients.MosquittoPubAsync("-h", BrokerFixture.Host, "-p", port, "-V", "mqttv5", "-q", "1", "-t", topic, "-m", "from mosquitto");
            Assert.Equal(0, published.ExitCode);
            var messages = await subscriber.WaitForMessageAsync(m => m.Topic == topic, Wait);
            var message = messages[^1];
            Assert.Equal("from mosquitto", message.Payload);
            Assert.Equal(1, message.QualityOfService);
        });
    }

    [Fact]
    public async Task TopicTooLongForNats_StaysOnItsNode_AndTheNodeKeepsItsNatsConnection()
    {
        var root = "lv" + Guid.NewGuid().ToString("N")[..8];
        await using var publisher = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(0), "lvpl");
        await using var local = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(0), "lvll");
        await using var remote = await LiveClient.ConnectAsync(cluster.Brokers.MqttPort(1), "lvrl");
        await local.SubscribeAsync($"{root}/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await remote.SubscribeAsync($"{root}/#", MqttQualityOfServiceLevel.AtLeastOnce);
        await RunAsync(async () =>
        {
            await WaitForInterestAsync(publisher, $"{root}/probe", remote);

            // 1 500 'é' are 3 000 bytes of topic but 9 000 characters of subject (each byte escaped as %XX): over the
            // default Iot:Cluster:MaxLiveSubjectLength of 4000, under NATS's max_control_line it would have broken.
            var longTopic = $"{root}/{new string('\u00e9', 1500)}";
            await publisher.PublishAsync(longTopic, "long", MqttQualityOfServiceLevel.AtLeastOnce);
            await publisher.PublishAsync($"{root}/after", "after", MqttQualityOfServiceLevel.AtLeastOnce);
            await local.WaitForAsync(m => m.Topic == longTopic, Wait, "the long topic on its own node");
            await remote.WaitForAsync(m => m.Topic == $"{root}/after", Wait, "the next message on the other node");
            Assert.DoesNotContain(remote.Received, m => m.Topic == longTopic);
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            var metrics = await http.GetStringAsync(new Uri(cluster.Brokers.HttpBaseAddress(0), "metrics"));
            Assert.Contains("iot_mqtt_limit_hits_total{limit=\"cluster_live_subject_length\"} 1", metrics, StringComparison.Ordinal);
        });
    }

    private static string Payload(MqttApplicationMessage message) => Encoding.UTF8.GetString(message.Payload);

    private static IEnumerable<string> Delivered(params LiveClient[] members) =>
        members.SelectMany(m => m.Received).Where(m => !m.Topic.EndsWith("probe", StringComparison.Ordinal)).Select(Payload);

    /// <summary>
    /// Subscriptions reach the other nodes through NATS a moment after SUBACK: publish a probe until every subscriber has
    /// one (nothing test-only in the broker, no fixed sleep).
    /// </summary>
    private static async Task WaitForInterestAsync(LiveClient publisher, string probeTopic, params LiveClient[] subscribers)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!subscribers.All(s => s.Received.Any(m => m.Topic == probeTopic)))
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"the subscriptions of {probeTopic} did not reach the publisher's node within {Wait.TotalSeconds} s");
            }

            await publisher.PublishAsync(probeTopic, "probe", MqttQualityOfServiceLevel.AtMostOnce);
            foreach (var subscriber in subscribers)
            {
                try
                {
                    await subscriber.WaitForAsync(m => m.Topic == probeTopic, TimeSpan.FromMilliseconds(200), "probe");
                }
                catch (TimeoutException)
                {
                    break;
                }
            }
        }
    }

    private async Task RunAsync(Func<Task> test)
    {
        try
        {
            await test();
        }
        catch
        {
            output.WriteLine(cluster.Brokers.Diagnostics());
            throw;
        }
    }
}
