using System.Buffers.Binary;
using System.Text;

namespace Iot.Streams.Log.JetStream;

/// <summary>
/// The body of one record's JetStream message: <c>version:uint8 (1) | timestamp-ms:int64 | keyLength:int16 | key |
/// topicLength:int16 | topic | payload</c>, little-endian, a length of -1 meaning null. The offset is not stored: it is
/// the message's stream sequence minus one. One array per record, as the file log's copy of the payload.
/// </summary>
internal static class JetStreamRecord
{
    private const byte Version = 1;
    private const int FixedSize = 1 + 8 + 2 + 2;

    /// <summary>The encoded size of <paramref name="record"/>.</summary>
    public static int SizeOf(in AppendRecord record) =>
        FixedSize + Utf8Length(record.Key) + Utf8Length(record.Topic) + record.Payload.Length;

    /// <summary>Encodes <paramref name="record"/> into a new array.</summary>
    public static byte[] Encode(in AppendRecord record)
    {
        var body = new byte[SizeOf(record)];
        body[0] = Version;
        BinaryPrimitives.WriteInt64LittleEndian(body.AsSpan(1), record.Timestamp.ToUnixTimeMilliseconds());
        var at = 9;
        at += WriteString(body.AsSpan(at), record.Key);
        at += WriteString(body.AsSpan(at), record.Topic);
        record.Payload.Span.CopyTo(body.AsSpan(at));
        return body;
    }

    /// <summary>The record's timestamp (Unix milliseconds) without decoding the rest.</summary>
    public static long ReadTimestamp(ReadOnlySpan<byte> body) =>
        body.Length >= FixedSize && body[0] == Version
            ? BinaryPrimitives.ReadInt64LittleEndian(body[1..])
            : throw new InvalidDataException("The message is not a stream record (unknown format).");

    /// <summary>Decodes a message body stored at <paramref name="offset"/>.</summary>
    public static StreamRecord Decode(long offset, ReadOnlyMemory<byte> body)
    {
        var span = body.Span;
        var timestamp = ReadTimestamp(span);
        var at = 9;
        var key = ReadString(span, ref at);
        var topic = ReadString(span, ref at);
        return new StreamRecord(offset, DateTimeOffset.FromUnixTimeMilliseconds(timestamp), key, topic, body[at..]);
    }

    private static int Utf8Length(string? value) => value is null ? 0 : Encoding.UTF8.GetByteCount(value);

    private static int WriteString(Span<byte> destination, string? value)
    {
        if (value is null)
        {
            BinaryPrimitives.WriteInt16LittleEndian(destination, -1);
            return 2;
        }

        var length = Encoding.UTF8.GetBytes(value, destination[2..]);
        BinaryPrimitives.WriteInt16LittleEndian(destination, checked((short)length));
        return 2 + length;
    }

    private static string? ReadString(ReadOnlySpan<byte> body, ref int at)
    {
        if (at + 2 > body.Length)
        {
            throw new InvalidDataException("The stream record is truncated.");
        }

        var length = BinaryPrimitives.ReadInt16LittleEndian(body[at..]);
        at += 2;
        if (length < 0)
        {
            return null;
        }

        if (at + length > body.Length)
        {
            throw new InvalidDataException("The stream record is truncated.");
        }

        var value = Encoding.UTF8.GetString(body.Slice(at, length));
        at += length;
        return value;
    }
}
