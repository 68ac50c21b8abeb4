using System.Text;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>
/// Issue 17: a PUBLISH with Topic Alias 0 was acknowledged with success; it is a protocol error [MQTT-3.3.2-8] and gets
/// DISCONNECT 0x94 Topic Alias invalid, as an alias above the announced maximum does.
/// </summary>
[Trait("Category", "Integration")]
public sealed class TopicAliasZeroTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task PublishWithTopicAliasZero_IsNotAcknowledged_AndDisconnectsWithTopicAliasInvalid(int qos)
    {
        await using var broker = await BrokerFixture.StartAsync();
        var topic = TestIds.Topic("alias-zero");
        await using var bystander = await TestClient.ConnectAsync(broker, Ids.Client("alias0-sub"));
        await bystander.SubscribeAsync(topic);

        var (raw, connack) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("alias0"), CleanSession = true, KeepAlivePeriod = 30 });
        Assert.True(connack.TopicAliasMaximum > 0);
        await using (raw)
        {
            await raw.SendRawAsync(PublishWithAliasZero(topic, qos));

            // The first packet back is the DISCONNECT: no PUBACK, and nothing reaches the subscriber.
            var first = await raw.ReceiveAsync(TimeSpan.FromSeconds(10));
            var disconnect = Assert.IsType<MqttDisconnectPacket>(first);
            Assert.Equal(MqttDisconnectReasonCode.TopicAliasInvalid, disconnect.ReasonCode);
            Assert.True(await raw.WaitForCloseAsync(TimeSpan.FromSeconds(10)));
        }

        await bystander.PublishAsync(topic, "after");
        Assert.Equal("after", (await bystander.ReceiveAsync()).ConvertPayloadToString());
    }

    /// <summary>
    /// An MQTT 5 PUBLISH whose properties hold Topic Alias = 0 (MQTTnet's encoder leaves an alias of 0 out, so the
    /// bytes are written here): topic, packet identifier 1 for QoS 1, properties 0x23 0x0000, payload "x".
    /// </summary>
    private static byte[] PublishWithAliasZero(string topic, int qos)
    {
        var name = Encoding.UTF8.GetBytes(topic);
        var body = new List<byte> { (byte)(name.Length >> 8), (byte)name.Length };
        body.AddRange(name);
        if (qos > 0)
        {
            body.AddRange([0x00, 0x01]);
        }

        body.AddRange([0x03, 0x23, 0x00, 0x00, (byte)'x']);
        Assert.True(body.Count < 128);
        return [(byte)(0x30 | (qos << 1)), (byte)body.Count, .. body];
    }
}
