using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using MQTTnet.Packets;

namespace Iot.Broker.Mqtt.Persistence;

/// <summary>
/// The binary record a <see cref="BrokerMessage"/> is persisted as. Layout (version 1, little-endian):
/// <code>
/// u8 version | u8 flags | u8 qos | u8 payload format indicator | i64 expiresAt | i64 receivedAt
/// str topic | bin payload
/// [str content type] [str response topic] [bin correlation data]
/// [varint count, count x (str name, bin value)] [str publisher client id]
/// u32 CRC-32/IEEE of every byte before it
/// </code>
/// <c>str</c> and <c>bin</c> are a 7-bit varint length followed by that many bytes (UTF-8 for strings); the
/// bracketed fields are present only when their flag bit is set, so null and empty stay distinct.
/// </summary>
internal static class BrokerMessageSerializer
{
    /// <summary>The record version written by <see cref="Serialize"/>; the only one <see cref="Deserialize"/> reads.</summary>
    public const byte CurrentVersion = 1;

    private const int FixedHeaderLength = 20;
    private const int CrcLength = sizeof(uint);

    // Version byte, flags, two empty length prefixes (topic, payload) and the CRC.
    private const int MinimumLength = FixedHeaderLength + 2 + CrcLength;

    private const byte RetainFlag = 1 << 0;
    private const byte ContentTypeFlag = 1 << 1;
    private const byte ResponseTopicFlag = 1 << 2;
    private const byte CorrelationDataFlag = 1 << 3;
    private const byte UserPropertiesFlag = 1 << 4;
    private const byte PublisherFlag = 1 << 5;
    private const byte KnownFlags = RetainFlag | ContentTypeFlag | ResponseTopicFlag | CorrelationDataFlag | UserPropertiesFlag | PublisherFlag;

    // Throws on invalid UTF-8 instead of inventing U+FFFD: a record that decodes differently is corrupt.
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Encodes <paramref name="message"/> into a new array, CRC included.</summary>
    public static byte[] Serialize(BrokerMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(message.Topic);

        var buffer = new byte[GetSerializedLength(message)];
        var span = buffer.AsSpan();
        span[0] = CurrentVersion;
        span[1] = GetFlags(message);
        span[2] = message.QualityOfService;
        span[3] = message.PayloadFormatIndicator;
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], message.ExpiresAtUnixMs);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], message.ReceivedAtUnixMs);

        var position = FixedHeaderLength;
        WriteString(span, ref position, message.Topic);
        WriteBytes(span, ref position, message.Payload.Span);
        if (message.ContentType is { } contentType)
        {
            WriteString(span, ref position, contentType);
        }

        if (message.ResponseTopic is { } responseTopic)
        {
            WriteString(span, ref position, responseTopic);
        }

        if (message.CorrelationData is { } correlationData)
        {
            WriteBytes(span, ref position, correlationData);
        }

        if (message.UserProperties is { } properties)
        {
            WriteVarUInt32(span, ref position, (uint)properties.Count);
            foreach (var property in properties)
            {
                WriteString(span, ref position, property.Name);
                WriteBytes(span, ref position, property.ValueBuffer.Span);
            }
        }

        if (message.SourceClientId is { } publisher)
        {
            WriteString(span, ref position, publisher);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(span[position..], Crc32.HashToUInt32(span[..position]));
        return buffer;
    }

    /// <summary>Decodes a record written by <see cref="Serialize"/>.</summary>
    /// <exception cref="InvalidDataException">The record is truncated, fails its CRC, has an unknown version or flag, or is otherwise malformed.</exception>
    public static BrokerMessage Deserialize(ReadOnlySpan<byte> record)
    {
        if (record.Length < MinimumLength)
        {
            throw Corrupt($"{record.Length} bytes is shorter than the minimum of {MinimumLength}");
        }

        var body = record[..^CrcLength];
        var storedCrc = BinaryPrimitives.ReadUInt32LittleEndian(record[^CrcLength..]);
        var computedCrc = Crc32.HashToUInt32(body);
        if (storedCrc != computedCrc)
        {
            throw Corrupt($"CRC-32 mismatch (stored 0x{storedCrc:x8}, computed 0x{computedCrc:x8})");
        }

        if (body[0] != CurrentVersion)
        {
            throw Corrupt($"unsupported record version {body[0]} (this broker reads version {CurrentVersion})");
        }

        var flags = body[1];
        if ((flags & ~KnownFlags) != 0)
        {
            throw Corrupt($"unknown flags 0x{flags:x2}");
        }

        var qos = body[2];
        if (qos > 2)
        {
            throw Corrupt($"QoS {qos} is out of range");
        }

        var position = FixedHeaderLength;
        var topic = ReadString(body, ref position);
        var payload = ReadBytes(body, ref position).ToArray();
        var contentType = (flags & ContentTypeFlag) != 0 ? ReadString(body, ref position) : null;
        var responseTopic = (flags & ResponseTopicFlag) != 0 ? ReadString(body, ref position) : null;
        var correlationData = (flags & CorrelationDataFlag) != 0 ? ReadBytes(body, ref position).ToArray() : null;
        var userProperties = (flags & UserPropertiesFlag) != 0 ? ReadUserProperties(body, ref position) : null;
        var publisher = (flags & PublisherFlag) != 0 ? ReadString(body, ref position) : null;
        if (position != body.Length)
        {
            throw Corrupt($"{body.Length - position} unexpected trailing bytes");
        }

        return new BrokerMessage
        {
            Topic = topic,
            Payload = payload,
            QualityOfService = qos,
            Retain = (flags & RetainFlag) != 0,
            PayloadFormatIndicator = body[3],
            ExpiresAtUnixMs = BinaryPrimitives.ReadInt64LittleEndian(body[4..]),
            ReceivedAtUnixMs = BinaryPrimitives.ReadInt64LittleEndian(body[12..]),
            ContentType = contentType,
            ResponseTopic = responseTopic,
            CorrelationData = correlationData,
            UserProperties = userProperties,
            SourceClientId = publisher,
        };
    }

    private static int GetSerializedLength(BrokerMessage message)
    {
        var length = FixedHeaderLength + StringLength(message.Topic) + BytesLength(message.Payload.Length) + CrcLength;
        if (message.ContentType is { } contentType)
        {
            length += StringLength(contentType);
        }

        if (message.ResponseTopic is { } responseTopic)
        {
            length += StringLength(responseTopic);
        }

        if (message.CorrelationData is { } correlationData)
        {
            length += BytesLength(correlationData.Length);
        }

        if (message.UserProperties is { } properties)
        {
            length += VarUInt32Length((uint)properties.Count);
            foreach (var property in properties)
            {
                ArgumentNullException.ThrowIfNull(property, nameof(message.UserProperties));
                length += StringLength(property.Name) + BytesLength(property.ValueBuffer.Length);
            }
        }

        if (message.SourceClientId is { } publisher)
        {
            length += StringLength(publisher);
        }

        return length;
    }

    private static byte GetFlags(BrokerMessage message)
    {
        var flags = message.Retain ? RetainFlag : (byte)0;
        flags |= message.ContentType is null ? (byte)0 : ContentTypeFlag;
        flags |= message.ResponseTopic is null ? (byte)0 : ResponseTopicFlag;
        flags |= message.CorrelationData is null ? (byte)0 : CorrelationDataFlag;
        flags |= message.UserProperties is null ? (byte)0 : UserPropertiesFlag;
        flags |= message.SourceClientId is null ? (byte)0 : PublisherFlag;
        return flags;
    }

    private static int StringLength(string value) => BytesLength(StrictUtf8.GetByteCount(value));

    private static int BytesLength(int length) => VarUInt32Length((uint)length) + length;

    private static int VarUInt32Length(uint value)
    {
        var length = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            length++;
        }

        return length;
    }

    private static void WriteVarUInt32(Span<byte> span, ref int position, uint value)
    {
        while (value >= 0x80)
        {
            span[position++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[position++] = (byte)value;
    }

    private static void WriteString(Span<byte> span, ref int position, string value)
    {
        var length = StrictUtf8.GetByteCount(value);
        WriteVarUInt32(span, ref position, (uint)length);
        position += StrictUtf8.GetBytes(value, span.Slice(position, length));
    }

    private static void WriteBytes(Span<byte> span, ref int position, ReadOnlySpan<byte> value)
    {
        WriteVarUInt32(span, ref position, (uint)value.Length);
        value.CopyTo(span[position..]);
        position += value.Length;
    }

    private static uint ReadVarUInt32(ReadOnlySpan<byte> span, ref int position)
    {
        uint value = 0;
        for (var shift = 0; shift < 35; shift += 7)
        {
            if (position >= span.Length)
            {
                throw Corrupt("truncated length prefix");
            }

            var b = span[position++];
            if (shift == 28 && b > 0x0F)
            {
                throw Corrupt("length prefix overflows 32 bits");
            }

            value |= (uint)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw Corrupt("length prefix longer than 5 bytes");
    }

    private static ReadOnlySpan<byte> ReadBytes(ReadOnlySpan<byte> span, ref int position)
    {
        var length = ReadVarUInt32(span, ref position);
        if (length > (uint)(span.Length - position))
        {
            throw Corrupt($"a field of {length} bytes runs past the end of the record");
        }

        var value = span.Slice(position, (int)length);
        position += (int)length;
        return value;
    }

    private static string ReadString(ReadOnlySpan<byte> span, ref int position)
    {
        var bytes = ReadBytes(span, ref position);
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException ex)
        {
            throw new InvalidDataException("Corrupt broker message record: a string field is not valid UTF-8.", ex);
        }
    }

    private static MqttUserProperty[] ReadUserProperties(ReadOnlySpan<byte> span, ref int position)
    {
        var count = ReadVarUInt32(span, ref position);

        // Each property takes at least two bytes (two empty length prefixes): bounds the allocation below.
        if (count > (uint)(span.Length - position) / 2)
        {
            throw Corrupt($"{count} user properties cannot fit in the record");
        }

        var properties = new MqttUserProperty[count];
        for (var i = 0; i < properties.Length; i++)
        {
            var name = ReadString(span, ref position);
            var value = ReadBytes(span, ref position).ToArray();
            properties[i] = new MqttUserProperty(name, value.AsMemory());
        }

        return properties;
    }

    private static InvalidDataException Corrupt(string reason) => new($"Corrupt broker message record: {reason}.");
}
