using System.Buffers.Binary;

namespace Iot.Broker.Mqtt;

/// <summary>
/// Reads what MQTTnet's decoder does not tell apart in an MQTT 5 PUBLISH's properties (§3.3.2.3): a Topic Alias of 0,
/// which it reports like no alias at all, but which is a protocol error [MQTT-3.3.2-8].
/// </summary>
internal static class PublishProperties
{
    private const byte PayloadFormatIndicator = 0x01;
    private const byte MessageExpiryInterval = 0x02;
    private const byte ContentType = 0x03;
    private const byte ResponseTopic = 0x08;
    private const byte CorrelationData = 0x09;
    private const byte SubscriptionIdentifier = 0x0B;
    private const byte TopicAlias = 0x23;
    private const byte UserProperty = 0x26;

    /// <summary>
    /// True when the PUBLISH body (after the fixed header) carries a Topic Alias property of 0. A body too short or with
    /// properties it does not know is left to the decoder (false).
    /// </summary>
    public static bool HasTopicAliasZero(ReadOnlySpan<byte> body, int qos)
    {
        if (body.Length < 2)
        {
            return false;
        }

        var offset = 2 + BinaryPrimitives.ReadUInt16BigEndian(body) + (qos > 0 ? 2 : 0);
        if (!TryReadVariableInteger(body, ref offset, out var length) || length > body.Length - offset)
        {
            return false;
        }

        var properties = body.Slice(offset, length);
        var at = 0;
        while (at < properties.Length)
        {
            var skip = properties[at++] switch
            {
                PayloadFormatIndicator => 1,
                MessageExpiryInterval => 4,
                TopicAlias => 2,
                ContentType or ResponseTopic or CorrelationData => LengthPrefixed(properties, at),
                UserProperty => LengthPrefixed(properties, at) is var key and >= 0 && LengthPrefixed(properties, at + key) is var value and >= 0 ? key + value : -1,
                SubscriptionIdentifier => VariableIntegerLength(properties, at),
                _ => -1,
            };
            if (skip < 0 || skip > properties.Length - at)
            {
                return false;
            }

            if (properties[at - 1] == TopicAlias && BinaryPrimitives.ReadUInt16BigEndian(properties[at..]) == 0)
            {
                return true;
            }

            at += skip;
        }

        return false;
    }

    /// <summary>The length of a two-byte-length-prefixed string or binary at <paramref name="at"/>, prefix included; -1 when cut.</summary>
    private static int LengthPrefixed(ReadOnlySpan<byte> data, int at) =>
        at + 2 > data.Length ? -1 : 2 + BinaryPrimitives.ReadUInt16BigEndian(data[at..]);

    private static int VariableIntegerLength(ReadOnlySpan<byte> data, int at)
    {
        var start = at;
        return TryReadVariableInteger(data, ref at, out _) ? at - start : -1;
    }

    private static bool TryReadVariableInteger(ReadOnlySpan<byte> data, ref int offset, out int value)
    {
        value = 0;
        for (var shift = 0; shift < 28; shift += 7)
        {
            if (offset >= data.Length)
            {
                return false;
            }

            var encoded = data[offset++];
            value |= (encoded & 0x7F) << shift;
            if ((encoded & 0x80) == 0)
            {
                return true;
            }
        }

        return false;
    }
}
