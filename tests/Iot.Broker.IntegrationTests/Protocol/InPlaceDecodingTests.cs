using System.Text;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>
/// The packets the broker reads and writes without MQTTnet's packet objects: MQTT 3.1.1 PUBLISH decoded where it lies
/// (with the topic string of the previous PUBLISH reused), PUBACK/PUBREC/PUBREL/PUBCOMP and PINGREQ handled straight
/// from the receive buffer, and successful acknowledgements written as their four bytes. Checked byte for byte, with
/// malformed input, and on both lean transports.
/// </summary>
[Trait("Category", "Integration")]
public sealed class InPlaceDecodingTests
{
    public static TheoryData<string> Transports => new() { "epoll", "socket" };

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Mqtt311Publishes_ToAlternatingTopics_ArriveWithTheirOwnTopicAndPayload(string transport)
    {
        await using var broker = await BrokerFixture.StartAsync($"--Iot:Mqtt:Transport={transport}");
        var prefix = TestIds.Topic("cache");
        await using var subscriber = await TestClient.ConnectAsync(broker, Ids.Client("sub"), version: MqttProtocolVersion.V311);
        await subscriber.SubscribeAsync(prefix + "/#");

        // Same length and ASCII, one byte apart; non-ASCII (same UTF-16 length, more bytes); back to the first.
        string[] topics = [prefix + "/a1", prefix + "/a2", prefix + "/ä1", prefix + "/ä1", prefix + "/a1", prefix + "/a1x", prefix + "/a1"];
        var (raw, _) = await RawMqttClient.ConnectAsync(
            broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("pub"), CleanSession = true, KeepAlivePeriod = 30 }, MqttProtocolVersion.V311);
        await using (raw)
        {
            await raw.SendBurstAsync(topics.Select((topic, i) => new MqttPublishPacket
            {
                Topic = topic,
                Payload = new(Encoding.UTF8.GetBytes($"m{i}")),
                QualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce,
                PacketIdentifier = (ushort)(i + 1),
            }));

            for (var i = 0; i < topics.Length; i++)
            {
                // Each PUBACK is the four bytes 0x40 0x02 and the packet identifier.
                Assert.Equal(new byte[] { 0x40, 0x02, 0x00, (byte)(i + 1) }, await raw.ReceiveBytesAsync(4, TimeSpan.FromSeconds(30)));
            }
        }

        for (var i = 0; i < topics.Length; i++)
        {
            var message = await subscriber.ReceiveAsync();
            Assert.Equal(topics[i], message.Topic);
            Assert.Equal($"m{i}", message.ConvertPayloadToString());
        }
    }

    [Theory]
    [InlineData(new byte[] { 0x30, 0x03, 0x00, 0x05, (byte)'a' })] // topic length runs past the packet
    [InlineData(new byte[] { 0x30, 0x01, 0x00 })] // no room for the topic length
    [InlineData(new byte[] { 0x32, 0x04, 0x00, 0x01, (byte)'a', 0x00 })] // QoS 1 without room for the packet identifier
    [InlineData(new byte[] { 0x32, 0x06, 0x00, 0x01, (byte)'a', 0x00, 0x00, 0x7A })] // QoS 1 with packet identifier 0
    [InlineData(new byte[] { 0x36, 0x06, 0x00, 0x01, (byte)'a', 0x00, 0x01, 0x7A })] // QoS 3
    [InlineData(new byte[] { 0x30, 0x04, 0x00, 0x02, (byte)'a', (byte)'+' })] // a wildcard in the topic name
    public async Task MalformedMqtt311Publish_ClosesThatConnection_ForwardsNothing_OthersKeepWorking(byte[] packet)
    {
        await using var broker = await BrokerFixture.StartAsync();
        await using var subscriber = await TestClient.ConnectAsync(broker, Ids.Client("sub"), version: MqttProtocolVersion.V311);
        await subscriber.SubscribeAsync("#");
        var (raw, _) = await RawMqttClient.ConnectAsync(
            broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("bad"), CleanSession = true, KeepAlivePeriod = 30 }, MqttProtocolVersion.V311);
        await using (raw)
        {
            await raw.SendRawAsync(packet);
            Assert.True(await raw.WaitForCloseAsync(TimeSpan.FromSeconds(30)));
        }

        var topic = TestIds.Topic("after");
        await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("good"), version: MqttProtocolVersion.V311);
        await publisher.PublishAsync(topic, "still serving");
        var received = await subscriber.ReceiveAsync();
        Assert.Equal(topic, received.Topic);
    }

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task Qos2Flow_AcknowledgementsAreFourBytes_AndPingInTheSameWriteIsAnswered(MqttProtocolVersion version)
    {
        await using var broker = await BrokerFixture.StartAsync();
        var topic = TestIds.Topic("qos2");
        await using var subscriber = await TestClient.ConnectAsync(broker, Ids.Client("sub"), version: MqttProtocolVersion.V311);
        await subscriber.SubscribeAsync(topic, MqttQualityOfServiceLevel.ExactlyOnce);
        var (raw, _) = await RawMqttClient.ConnectAsync(
            broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("pub"), CleanSession = true, KeepAlivePeriod = 30 }, version);
        await using (raw)
        {
            await raw.SendAsync(new MqttPublishPacket
            {
                Topic = topic,
                Payload = new(Encoding.UTF8.GetBytes("once")),
                QualityOfServiceLevel = MqttQualityOfServiceLevel.ExactlyOnce,
                PacketIdentifier = 0x1234,
            });
            Assert.Equal(new byte[] { 0x50, 0x02, 0x12, 0x34 }, await raw.ReceiveBytesAsync(4, TimeSpan.FromSeconds(30)));

            // PUBREL and PINGREQ in one write: PUBCOMP, then PINGRESP.
            await raw.SendRawAsync([0x62, 0x02, 0x12, 0x34, 0xC0, 0x00]);
            Assert.Equal(new byte[] { 0x70, 0x02, 0x12, 0x34, 0xD0, 0x00 }, await raw.ReceiveBytesAsync(6, TimeSpan.FromSeconds(30)));

            // A PUBREL for an identifier the broker does not hold: MQTT 3.1.1 completes it anyway, MQTT 5 says 0x92 (with an
            // empty property length, as MQTTnet writes it).
            await raw.SendRawAsync([0x62, 0x02, 0x43, 0x21]);
            var expected = version == MqttProtocolVersion.V500 ? new byte[] { 0x70, 0x04, 0x43, 0x21, 0x92, 0x00 } : new byte[] { 0x70, 0x02, 0x43, 0x21 };
            Assert.Equal(expected, await raw.ReceiveBytesAsync(expected.Length, TimeSpan.FromSeconds(30)));
        }

        Assert.Equal("once", (await subscriber.ReceiveAsync()).ConvertPayloadToString());
        Assert.Null(await subscriber.TryReceiveAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task Qos0ToAnMqtt5Subscriber_WithoutPerSubscriberState_KeepsPropertiesRetainAndThePacketSizeLimit()
    {
        // A QoS 0 delivery with no subscription identifier is queued as the shared message itself (no Delivery):
        // properties, RETAIN as published and the client's Maximum Packet Size still apply.
        await using var broker = await BrokerFixture.StartAsync();
        var topic = TestIds.Topic("plain");
        await using var subscriber = await TestClient.ConnectAsync(broker, Ids.Client("sub"), o => o.WithMaximumPacketSize(300));
        await subscriber.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtMostOnce, f => f.WithRetainAsPublished());
        await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("pub"));

        await publisher.PublishAsync(topic, new string('x', 600), MqttQualityOfServiceLevel.AtMostOnce); // over 300 bytes: not sent
        await publisher.PublishAsync(topic, "small", MqttQualityOfServiceLevel.AtMostOnce, retain: true, configure: m => m
            .WithContentType("text/plain")
            .WithMessageExpiryInterval(600)
            .WithUserProperty("k", Encoding.UTF8.GetBytes("v").AsMemory()));

        var received = await subscriber.ReceiveAsync();
        Assert.Equal("small", received.ConvertPayloadToString());
        Assert.True(received.Retain);
        Assert.Equal(MqttQualityOfServiceLevel.AtMostOnce, received.QualityOfServiceLevel);
        Assert.Equal("text/plain", received.ContentType);
        Assert.InRange(received.MessageExpiryInterval, 590u, 600u);
        Assert.Equal(["k=v"], received.UserProperties.Select(p => $"{p.Name}={p.ReadValueAsString()}"));
        Assert.Null(await subscriber.TryReceiveAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Qos1Deliveries_AcknowledgedInOneWrite_LeaveTheInflightWindow(string transport)
    {
        // A raw QoS 1 subscriber with a receive maximum of 2: further deliveries wait until PUBACKs free the window, so
        // every message arriving proves the broker took the (inline-handled) PUBACKs.
        await using var broker = await BrokerFixture.StartAsync($"--Iot:Mqtt:Transport={transport}");
        var topic = TestIds.Topic("window");
        var (raw, _) = await RawMqttClient.ConnectAsync(
            broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("sub"), CleanSession = true, KeepAlivePeriod = 30, ReceiveMaximum = 2 });
        await using (raw)
        {
            await raw.SendAsync(new MqttSubscribePacket
            {
                PacketIdentifier = 1,
                TopicFilters = [new MqttTopicFilter { Topic = topic, QualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce }],
            });
            Assert.NotNull(await raw.ReceiveAsync<MqttSubAckPacket>(TimeSpan.FromSeconds(30)));

            await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("pub"), version: MqttProtocolVersion.V311);
            for (var i = 0; i < 6; i++)
            {
                await publisher.PublishAsync(topic, $"m{i}");
            }

            var received = new List<string>();
            while (received.Count < 6)
            {
                var first = await raw.ReceiveAsync<MqttPublishPacket>(TimeSpan.FromSeconds(30));
                var second = await raw.ReceiveAsync<MqttPublishPacket>(TimeSpan.FromSeconds(30));
                Assert.NotNull(first);
                Assert.NotNull(second);
                received.Add(Encoding.UTF8.GetString(first.Payload));
                received.Add(Encoding.UTF8.GetString(second.Payload));
                await raw.SendRawAsync([0x40, 0x02, (byte)(first.PacketIdentifier >> 8), (byte)first.PacketIdentifier, 0x40, 0x02, (byte)(second.PacketIdentifier >> 8), (byte)second.PacketIdentifier]);
            }

            Assert.Equal(["m0", "m1", "m2", "m3", "m4", "m5"], received);
        }
    }
}
