using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Nodes;

/// <summary>
/// Issue 18: "on a JetStream error or timeout, no acknowledgement and the connection is closed so the client resends".
/// A retained QoS 1 PUBLISH must be written to JetStream before its PUBACK; with the only NATS server killed (and the
/// cut-off far away) the write times out after <c>Iot:Cluster:RequestTimeout</c>, and the MQTT 5 client gets
/// DISCONNECT 0x80 and no PUBACK at all (a PUBACK 0x80 would tell it the message is done with, and it would not resend).
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class FailedWriteTests(ITestOutputHelper output)
{
    [Fact]
    public async Task RetainedWriteTimesOut_Mqtt5ClientGetsNoPubAck_AndIsDisconnected()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 1);
        await using var brokers = await ClusterBrokers.StartAsync(
            nats, 1, "--Iot:Cluster:RequestTimeout=00:00:01", "--Iot:Cluster:CutOffTimeout=00:05:00");
        try
        {
            var (client, ack) = await RawMqttClient.ConnectAsync(
                brokers.MqttPort(0), new MqttConnectPacket { ClientId = TestIds.ClientId("fw"), CleanSession = true, KeepAlivePeriod = 60 });
            await using var publisher = client;
            Assert.Equal(MqttConnectReasonCode.Success, ack.ReasonCode);

            await nats.KillAsync(0);
            await publisher.SendAsync(new MqttPublishPacket
            {
                Topic = "fw/state",
                QualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce,
                PacketIdentifier = 7,
                Retain = true,
                PayloadSegment = "on"u8.ToArray(),
            });

            // The first packet the broker sends after the PUBLISH: a DISCONNECT, never a PUBACK of any reason.
            var reply = await publisher.ReceiveAsync(TimeSpan.FromSeconds(30));
            Assert.False(reply is MqttPubAckPacket, $"the publisher was acknowledged ({(reply as MqttPubAckPacket)?.ReasonCode}) although nothing was stored");
            var disconnect = Assert.IsType<MqttDisconnectPacket>(reply);
            Assert.Equal(MqttDisconnectReasonCode.UnspecifiedError, disconnect.ReasonCode);
            Assert.True(await publisher.WaitForCloseAsync(TimeSpan.FromSeconds(10)), "the connection is closed");
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }
}
