using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Iot.Broker.Mqtt;

/// <summary>
/// Writes an MQTT 3.1.1 PUBLISH straight into the connection's output: the hottest outbound packet, and one whose
/// layout has no properties, so it needs neither a packet object nor a copy through the formatter's buffer.
/// MQTT 5 PUBLISH packets (properties, aliases, subscription identifiers) still go through MQTTnet's formatter.
/// </summary>
internal static class PublishEncoder
{
    /// <summary>Writes the packet and returns its length in bytes.</summary>
    public static int WriteV311(IBufferWriter<byte> output, string topic, ReadOnlySpan<byte> payload, byte qos, bool retain, bool dup, ushort packetId)
    {
        var topicLength = Encoding.UTF8.GetByteCount(topic);
        var remaining = 2 + topicLength + (qos > 0 ? 2 : 0) + payload.Length;
        var headerLength = 1 + VariableByteIntegerSize(remaining) + 2 + topicLength + (qos > 0 ? 2 : 0);
        var span = output.GetSpan(headerLength);
        span[0] = (byte)(0x30 | (dup ? 0x08 : 0) | (qos << 1) | (retain ? 0x01 : 0));
        var position = 1;
        var value = remaining;
        do
        {
            var encoded = (byte)(value & 0x7F);
            value >>= 7;
            span[position++] = value > 0 ? (byte)(encoded | 0x80) : encoded;
        }
        while (value > 0);

        BinaryPrimitives.WriteUInt16BigEndian(span[position..], (ushort)topicLength);
        position += 2;
        position += Encoding.UTF8.GetBytes(topic, span[position..]);
        if (qos > 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(span[position..], packetId);
            position += 2;
        }

        output.Advance(position);
        output.Write(payload);
        return position + payload.Length;
    }

    private static int VariableByteIntegerSize(int value) => value switch
    {
        < 128 => 1,
        < 16_384 => 2,
        < 2_097_152 => 3,
        _ => 4,
    };
}
