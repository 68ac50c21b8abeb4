using System.Buffers;
using Iot.Broker.Mqtt;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using Xunit;

namespace Iot.Broker.Tests.Mqtt;

public class PublishEncoderTests
{
    [Theory]
    [InlineData("a/b", 0, 0, false, false, (ushort)0)]
    [InlineData("bench/fanin/p1", 64, 1, false, false, (ushort)7)]
    [InlineData("devices/d1/telemetry", 200, 1, true, true, (ushort)65535)]
    [InlineData("sites/é/ü", 20_000, 2, true, false, (ushort)300)]
    [InlineData("x", 3_000_000, 0, false, false, (ushort)0)]
    public void WriteV311_AnyPublish_SameBytesAsMqttNet(string topic, int payloadLength, byte qos, bool retain, bool dup, ushort packetId)
    {
        var payload = new byte[payloadLength];
        Random.Shared.NextBytes(payload);
        var expected = EncodeWithMqttNet(new MqttPublishPacket
        {
            Topic = topic,
            Payload = new ReadOnlySequence<byte>(payload),
            QualityOfServiceLevel = (MqttQualityOfServiceLevel)qos,
            Retain = retain,
            Dup = dup,
            PacketIdentifier = packetId,
        });

        var output = new ArrayBufferWriter<byte>();
        var length = PublishEncoder.WriteV311(output, topic, payload, qos, retain, dup, packetId);

        Assert.Equal(expected.Length, length);
        Assert.True(expected.AsSpan().SequenceEqual(output.WrittenSpan));
    }

    private static byte[] EncodeWithMqttNet(MqttPublishPacket packet)
    {
        var formatter = new MqttPacketFormatterAdapter(MqttProtocolVersion.V311, new MqttBufferWriter(128, 65536));
        var encoded = formatter.Encode(packet);
        var bytes = new byte[encoded.Length];
        encoded.Packet.AsSpan().CopyTo(bytes);
        encoded.Payload.CopyTo(bytes.AsSpan(encoded.Packet.Count));
        return bytes;
    }
}
