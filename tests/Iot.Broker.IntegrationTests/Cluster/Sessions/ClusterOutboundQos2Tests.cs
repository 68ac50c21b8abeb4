using System.Text;
using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Sessions;

/// <summary>
/// Exactly once across a node loss: a persistent subscriber got an outbound QoS 2 message through node B and answered
/// PUBREC (B sent PUBREL); B is killed before the PUBCOMP. The client resumes on node C: C sends PUBREL with the same
/// packet id, not the message again (MQTT 5 §4.3.3: the client would deliver a new PUBLISH to its application a second
/// time), and the PUBCOMP ends the flow, so the message never comes back. The client is raw, to hold back its PUBCOMP.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterOutboundQos2Tests(ITestOutputHelper output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task MessagePastPubRec_ItsBrokerKilled_TheSessionResumedOnAnotherNodeGetsPubRel_NotTheMessageAgain()
    {
        await using var cluster = await SessionsClusterHarness.StartAsync();
        var nodes = await cluster.StartBrokersAsync(3);
        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);
        var topic = TestIds.Topic("qos2-node");
        var clientId = TestIds.ClientId("q2node");
        try
        {
            var (onB, connack) = await RawMqttClient.ConnectAsync(b.MqttPort, Connect(clientId));
            await using (onB)
            {
                Assert.Equal(MqttConnectReasonCode.Success, connack.ReasonCode);
                await onB.SendAsync(new MqttSubscribePacket
                {
                    PacketIdentifier = 1,
                    TopicFilters = [new MqttTopicFilter { Topic = topic, QualityOfServiceLevel = MqttQualityOfServiceLevel.ExactlyOnce }],
                });
                Assert.NotNull(await onB.ReceiveAsync<MqttSubAckPacket>(Wait));

                await ClusterSessionClients.PublishAsync(a, topic, MqttQualityOfServiceLevel.ExactlyOnce, "once");
                var publish = await onB.ReceiveAsync<MqttPublishPacket>(Wait);
                Assert.NotNull(publish);
                Assert.Equal("once", Encoding.UTF8.GetString(publish.Payload));
                await onB.SendAsync(new MqttPubRecPacket { PacketIdentifier = publish.PacketIdentifier });
                var pubRel = await onB.ReceiveAsync<MqttPubRelPacket>(Wait);
                Assert.Equal(publish.PacketIdentifier, pubRel?.PacketIdentifier);

                // The PUBREC is in the session's record before B goes.
                await Eventually.WaitUntilAsync(
                    async () => (await cluster.ReadRecordAsync(clientId))?.OutboundReleased is { Count: 1 } released
                        && released[0].PacketId == publish.PacketIdentifier,
                    Wait, "the session record lists the message as past PUBREC");
                await cluster.KillBrokerAsync(1);

                var (onC, resumed) = await RawMqttClient.ConnectAsync(c.MqttPort, Connect(clientId));
                await using (onC)
                {
                    Assert.True(resumed.IsSessionPresent, "the session resumes on c");
                    var first = await onC.ReceiveAsync(Wait);
                    var again = Assert.IsType<MqttPubRelPacket>(first);
                    Assert.Equal(publish.PacketIdentifier, again.PacketIdentifier);
                    await onC.SendAsync(new MqttPubCompPacket { PacketIdentifier = publish.PacketIdentifier });

                    // A marker published after it: whatever would still come for the completed message comes before it.
                    await ClusterSessionClients.PublishAsync(a, topic, MqttQualityOfServiceLevel.AtLeastOnce, "marker");
                    while (true)
                    {
                        var next = await onC.ReceiveAsync(Wait) ?? throw new TimeoutException("the marker did not arrive on c");
                        if (next is MqttPublishPacket p)
                        {
                            var payload = Encoding.UTF8.GetString(p.Payload);
                            Assert.NotEqual("once", payload);
                            await onC.SendAsync(new MqttPubAckPacket { PacketIdentifier = p.PacketIdentifier });
                            if (payload == "marker")
                            {
                                break;
                            }
                        }
                    }

                    await Eventually.WaitUntilAsync(
                        async () => (await cluster.ReadRecordAsync(clientId))?.OutboundReleased is null,
                        Wait, "the PUBCOMP takes the message off the record");
                }
            }
        }
        catch
        {
            output.WriteLine(cluster.Diagnostics());
            throw;
        }
    }

    private static MqttConnectPacket Connect(string clientId) =>
        new() { ClientId = clientId, CleanSession = false, SessionExpiryInterval = 3600, KeepAlivePeriod = 60 };
}
