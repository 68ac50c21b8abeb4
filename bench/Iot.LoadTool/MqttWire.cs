using System.Buffers.Binary;
using System.Text;

namespace Iot.LoadTool;

/// <summary>Hand-encoded MQTT 3.1.1 packets: only what the load tool sends.</summary>
internal static class MqttWire
{
    public const byte ConnAck = 0x20;
    public const byte SubAck = 0x90;
    public const byte PubAck = 0x40;
    public const int PublishType = 3;
    public const byte PingResp = 0xD0;

    public static byte[] Connect(string clientId, ushort keepAliveSeconds)
    {
        var id = Encoding.UTF8.GetBytes(clientId);
        // Variable header: "MQTT", level 4, clean session, keep-alive; payload: client id.
        var body = new List<byte> { 0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 4, 0x02 };
        body.Add((byte)(keepAliveSeconds >> 8));
        body.Add((byte)keepAliveSeconds);
        AddString(body, id);
        return Frame(0x10, body);
    }

    public static byte[] Subscribe(ushort packetId, string filter, int qos)
    {
        var body = new List<byte> { (byte)(packetId >> 8), (byte)packetId };
        AddString(body, Encoding.UTF8.GetBytes(filter));
        body.Add((byte)qos);
        return Frame(0x82, body);
    }

    /// <summary>A PUBLISH template; for QoS 1 the packet id is patched in place at <paramref name="packetIdOffset"/>.</summary>
    public static byte[] Publish(string topic, int qos, int payloadSize, out int packetIdOffset)
    {
        var payload = new byte[payloadSize];
        for (var i = 0; i < payloadSize; i++)
        {
            payload[i] = (byte)('a' + (i % 26));
        }

        return Publish(topic, qos, retain: false, payload, out packetIdOffset, out _);
    }

    /// <summary>A PUBLISH with the given payload; the packet id (QoS 1) sits at <paramref name="packetIdOffset"/>, the payload at <paramref name="payloadOffset"/>.</summary>
    public static byte[] Publish(string topic, int qos, bool retain, ReadOnlySpan<byte> payload, out int packetIdOffset, out int payloadOffset)
    {
        var body = new List<byte>(topic.Length + payload.Length + 4);
        AddString(body, Encoding.UTF8.GetBytes(topic));
        var idOffsetInBody = body.Count;
        if (qos > 0)
        {
            body.Add(0);
            body.Add(1);
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
