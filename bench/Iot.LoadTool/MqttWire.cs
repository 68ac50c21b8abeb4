using System.Buffers.Binary;
using System.Text;

namespace Iot.LoadTool;

/// <summary>Hand-encoded MQTT 3.1.1 (and, where a scenario asks for it, 5.0) packets: only what the load tool sends.</summary>
internal static class MqttWire
{
    public const byte ConnAck = 0x20;
    public const byte SubAck = 0x90;
    public const byte PubAck = 0x40;
    public const int PublishType = 3;
    public const byte PingResp = 0xD0;

    public static byte[] Connect(string clientId, ushort keepAliveSeconds) => Connect(clientId, keepAliveSeconds, 4, null);

    /// <summary>
    /// CONNECT with clean start at protocol level <paramref name="protocolLevel"/> (4 = 3.1.1, 5 = 5.0); for 5.0 an
    /// optional Receive Maximum property (how many QoS 1/2 PUBLISHes the broker may have unacknowledged towards us).
    /// </summary>
    public static byte[] Connect(string clientId, ushort keepAliveSeconds, int protocolLevel, ushort? receiveMaximum)
    {
        var id = Encoding.UTF8.GetBytes(clientId);
        // Variable header: "MQTT", level, clean session, keep-alive, [properties]; payload: client id.
        var body = new List<byte> { 0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', (byte)protocolLevel, 0x02 };
        body.Add((byte)(keepAliveSeconds >> 8));
        body.Add((byte)keepAliveSeconds);
        if (protocolLevel == 5)
        {
            if (receiveMaximum is { } maximum)
            {
                body.AddRange([3, 0x21, (byte)(maximum >> 8), (byte)maximum]);
            }
            else
            {
                body.Add(0);
            }
        }

        AddString(body, id);
        return Frame(0x10, body);
    }

    public static byte[] Subscribe(ushort packetId, string filter, int qos, int protocolLevel = 4)
    {
        var body = new List<byte> { (byte)(packetId >> 8), (byte)packetId };
        if (protocolLevel == 5)
        {
            body.Add(0); // no properties
        }

        AddString(body, Encoding.UTF8.GetBytes(filter));
        body.Add((byte)qos);
        return Frame(0x82, body);
    }

    /// <summary>A PUBLISH template; for QoS 1 the packet id is patched in place at <paramref name="packetIdOffset"/>.</summary>
    public static byte[] Publish(string topic, int qos, int payloadSize, out int packetIdOffset, int protocolLevel = 4)
    {
        var payload = new byte[payloadSize];
        for (var i = 0; i < payloadSize; i++)
        {
            payload[i] = (byte)('a' + (i % 26));
        }

        return Publish(topic, qos, retain: false, payload, out packetIdOffset, out _, protocolLevel);
    }

    /// <summary>A PUBLISH with the given payload; the packet id (QoS 1) sits at <paramref name="packetIdOffset"/>, the payload at <paramref name="payloadOffset"/>.</summary>
    public static byte[] Publish(
        string topic, int qos, bool retain, ReadOnlySpan<byte> payload, out int packetIdOffset, out int payloadOffset, int protocolLevel = 4)
    {
        var body = new List<byte>(topic.Length + payload.Length + 4);
        AddString(body, Encoding.UTF8.GetBytes(topic));
        var idOffsetInBody = body.Count;
        if (qos > 0)
        {
            body.Add(0);
            body.Add(1);
        }

        if (protocolLevel == 5)
        {
            body.Add(0); // no properties
        }

        var payloadOffsetInBody = body.Count;
        foreach (var b in payload)
        {
            body.Add(b);
        }

        var packet = Frame((byte)(0x30 | (qos << 1) | (retain ? 1 : 0)), body);
        var bodyStart = packet.Length - body.Count;
        packetIdOffset = qos > 0 ? bodyStart + idOffsetInBody : -1;
        payloadOffset = bodyStart + payloadOffsetInBody;
        return packet;
    }

    public static void WritePubAck(Span<byte> destination, ushort packetId)
    {
        destination[0] = PubAck;
        destination[1] = 2;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], packetId);
    }

    public static byte[] Disconnect() => [0xE0, 0];

    public static byte[] PingReq() => [0xC0, 0];

    /// <summary>Reads the remaining-length varint; returns false if the header is not complete yet.</summary>
    public static bool TryReadRemainingLength(ReadOnlySpan<byte> data, out int length, out int headerSize)
    {
        length = 0;
        var multiplier = 1;
        for (var i = 1; i < 5; i++)
        {
            if (i >= data.Length)
            {
                headerSize = 0;
                return false;
            }

            var b = data[i];
            length += (b & 0x7F) * multiplier;
            multiplier *= 128;
            if ((b & 0x80) == 0)
            {
                headerSize = i + 1;
                return true;
            }
        }

        throw new InvalidDataException("Malformed remaining length.");
    }

    /// <summary>Reads a variable byte integer at the start of <paramref name="data"/> (an MQTT 5 property length).</summary>
    public static void TryReadVarInt(ReadOnlySpan<byte> data, out int value, out int size)
    {
        value = 0;
        var multiplier = 1;
        for (size = 1; size <= 4 && size <= data.Length; size++)
        {
            var b = data[size - 1];
            value += (b & 0x7F) * multiplier;
            multiplier *= 128;
            if ((b & 0x80) == 0)
            {
                return;
            }
        }

        throw new InvalidDataException("Malformed variable byte integer.");
    }

    private static void AddString(List<byte> body, byte[] value)
    {
        body.Add((byte)(value.Length >> 8));
        body.Add((byte)value.Length);
        body.AddRange(value);
    }

    private static byte[] Frame(byte header, List<byte> body)
    {
        var packet = new List<byte>(body.Count + 5) { header };
        var remaining = body.Count;
        do
        {
            var digit = (byte)(remaining % 128);
            remaining /= 128;
            packet.Add(remaining > 0 ? (byte)(digit | 0x80) : digit);
        }
        while (remaining > 0);

        packet.AddRange(body);
        return [.. packet];
    }
}
