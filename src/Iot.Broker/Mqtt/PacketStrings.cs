using System.Buffers.Binary;
using System.Text.Unicode;

namespace Iot.Broker.Mqtt;

/// <summary>
/// Checks the UTF-8 strings of a packet where they lie in its body, before anything decodes them. MQTTnet's decoder
/// turns ill-formed UTF-8 into U+FFFD, so different byte strings (<c>\xff</c>, the overlong <c>C0 AF</c>, the
/// surrogate <c>ED A0 80</c>) would collapse into one topic, filter or client id; MQTT calls such a packet malformed
/// and the connection is closed [MQTT-1.5.4-1], as it is for U+0000 [MQTT-1.5.4-2].
/// </summary>
/// <remarks>
/// The walkers only look: a body they cannot follow (truncated, an unknown property) gives no answer here and is
/// left to the decoder, which refuses it. Nothing is allocated; the checks are vectorised span scans.
/// </remarks>
internal static class PacketStrings
{
    private const byte PublishType = 3;
    private const byte PubAckType = 4;
    private const byte PubCompType = 7;
    private const byte SubscribeType = 8;
    private const byte UnsubscribeType = 10;
    private const byte DisconnectType = 14;

    /// <summary>True when <paramref name="utf8"/> is well-formed UTF-8 [MQTT-1.5.4-1] without U+0000 [MQTT-1.5.4-2].</summary>
    public static bool IsWellFormed(ReadOnlySpan<byte> utf8) => !utf8.Contains((byte)0) && Utf8.IsValid(utf8);

    /// <summary>
    /// The problem with a CONNECT body (§3.1.2): ill-formed strings (client id, will topic, username, properties) and
    /// Will flags MQTT calls malformed: Will QoS 3 [MQTT-3.1.2-14], Will QoS or Will Retain without the Will Flag
    /// [MQTT-3.1.2-11, -13], the reserved flag [MQTT-3.1.2-3]. Null when none is found.
    /// </summary>
    public static string? CheckConnect(ReadOnlySpan<byte> body)
    {
        var fields = new Fields(body);
        fields.ReadPrefixed();
        var level = fields.ReadByte();
        var flags = fields.ReadByte();
        fields.Take(2);
        if (fields.Failed)
        {
            return null;
        }

        var willFlag = (flags & 0x04) != 0;
        var willQos = (flags >> 3) & 3;
        var willRetain = (flags & 0x20) != 0;
        if ((flags & 0x01) != 0)
        {
            return "the reserved CONNECT flag is set";
        }

        if (willQos == 3)
        {
            return "Will QoS 3";
        }

        if (!willFlag && (willQos != 0 || willRetain))
        {
            return "Will QoS or Will Retain set without the Will Flag";
        }

        var v5 = level == 5;
        var problem = (v5 ? CheckProperties(ref fields) : null) ?? CheckString(ref fields, "the client id");
        if (problem is null && willFlag)
        {
            problem = (v5 ? CheckProperties(ref fields) : null) ?? CheckString(ref fields, "the will topic");
            fields.ReadPrefixed();
        }

        if (problem is null && (flags & 0x80) != 0)
        {
            problem = CheckString(ref fields, "the username");
        }

        return problem;
    }

    /// <summary>
    /// The ill-formed string in a packet after CONNECT (PUBLISH topic and properties, SUBSCRIBE and UNSUBSCRIBE
    /// filters, reason strings and user properties of acknowledgements and DISCONNECT); null when there is none.
    /// </summary>
    public static string? Check(byte fixedHeader, ReadOnlySpan<byte> body, bool v5)
    {
        var type = fixedHeader >> 4;
        var fields = new Fields(body);
        switch (type)
        {
            case PublishType:
                var problem = CheckString(ref fields, "the topic name");
                if (problem is not null || !v5)
                {
                    return problem;
                }

                fields.Take(((fixedHeader >> 1) & 3) > 0 ? 2 : 0);
                return CheckProperties(ref fields);
            case SubscribeType or UnsubscribeType:
                fields.Take(2);
                if (v5 && CheckProperties(ref fields) is { } subscribeProblem)
                {
                    return subscribeProblem;
                }

                while (!fields.Failed && !fields.AtEnd)
                {
                    if (CheckString(ref fields, "a topic filter") is { } filterProblem)
                    {
                        return filterProblem;
                    }

                    // SUBSCRIBE: the subscription options byte after each filter.
                    fields.Take(type == SubscribeType ? 1 : 0);
                }

                return null;
            case >= PubAckType and <= PubCompType when v5 && body.Length > 3:
                fields.Take(3);
                return CheckProperties(ref fields);
            case DisconnectType when v5 && body.Length > 1:
                fields.Take(1);
                return CheckProperties(ref fields);
            default:
                return null;
        }
    }

    private static string? CheckString(ref Fields fields, string what)
    {
        var value = fields.ReadPrefixed();
        return fields.Failed || IsWellFormed(value) ? null : what + " is not well-formed UTF-8 or contains U+0000";
    }

    /// <summary>Walks MQTT 5 properties (§2.2.2.2): each string and string pair is checked, the rest skipped by type.</summary>
    private static string? CheckProperties(ref Fields fields)
    {
        var length = fields.ReadVariableInt();
        var properties = new Fields(fields.Take(length));
        if (fields.Failed)
        {
            return null;
        }

        while (!properties.AtEnd && !properties.Failed)
        {
            var id = properties.ReadByte();
            switch (id)
            {
                // Byte: payload format, request problem / response information, maximum QoS, the availabilities.
                case 0x01 or 0x17 or 0x19 or 0x24 or 0x25 or 0x28 or 0x29 or 0x2A:
                    properties.Take(1);
                    break;

                // Four-byte integer: message expiry, session expiry, will delay, maximum packet size.
                case 0x02 or 0x11 or 0x18 or 0x27:
                    properties.Take(4);
                    break;

                // Two-byte integer: server keep alive, receive maximum, topic alias maximum, topic alias.
                case 0x13 or 0x21 or 0x22 or 0x23:
                    properties.Take(2);
                    break;
                case 0x0B:
                    properties.ReadVariableInt();
                    break;

                // Binary data: correlation data, authentication data.
                case 0x09 or 0x16:
                    properties.ReadPrefixed();
                    break;

                // UTF-8 strings: content type, response topic, assigned client id, authentication method,
                // response information, server reference, reason string.
                case 0x03 or 0x08 or 0x12 or 0x15 or 0x1A or 0x1C or 0x1F:
                    if (CheckString(ref properties, "a string property") is { } problem)
                    {
                        return problem;
                    }

                    break;
                case 0x26:
                    if ((CheckString(ref properties, "a user property name") ?? CheckString(ref properties, "a user property value")) is { } pairProblem)
                    {
                        return pairProblem;
                    }

                    break;
                default:
                    // Unknown to MQTT 5: the decoder refuses the packet.
                    return null;
            }
        }

        return null;
    }

    /// <summary>A forward-only reader over a packet body; past a truncation it reads nothing and stays failed.</summary>
    private ref struct Fields
    {
        private readonly ReadOnlySpan<byte> _body;
        private int _position;

        public Fields(ReadOnlySpan<byte> body) => _body = body;

        public bool Failed { get; private set; }

        public readonly bool AtEnd => _position >= _body.Length;

        public ReadOnlySpan<byte> Take(int count)
        {
            if (Failed || count > _body.Length - _position)
            {
                Failed = true;
                return default;
            }

            var value = _body.Slice(_position, count);
            _position += count;
            return value;
        }

        public int ReadByte()
        {
            var value = Take(1);
            return Failed ? 0 : value[0];
        }

        public ReadOnlySpan<byte> ReadPrefixed()
        {
            var length = Take(2);
            return Failed ? default : Take(BinaryPrimitives.ReadUInt16BigEndian(length));
        }

        public int ReadVariableInt()
        {
            var value = 0;
            for (var shift = 0; shift < 28; shift += 7)
            {
                var b = ReadByte();
                if (Failed)
                {
                    return 0;
                }

                value |= (b & 0x7F) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }

            Failed = true;
            return 0;
        }
    }
}
