using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace Iot.Streams.Log;

/// <summary>
/// The on-disk record: <c>length:int32 | crc32:uint32 | offset:int64 | timestamp-ms:int64 | keyLength:int16 |
/// key | topicLength:int16 | topic | payload</c>, little-endian. <c>length</c> counts the bytes after itself;
/// the CRC-32 covers everything after the CRC. A length of -1 for key or topic means null.
/// </summary>
internal static class RecordFormat
{
    public const int PrefixSize = 8;
    public const int FixedBodySize = 8 + 8 + 2 + 2;

    /// <summary>Largest record accepted (prefix included); a larger length on disk marks a torn or corrupt tail.</summary>
    public const int MaxRecordSize = 16 * 1024 * 1024;

    public static int SizeOf(in AppendRecord record) =>
        PrefixSize + FixedBodySize + Utf8Length(record.Key) + Utf8Length(record.Topic) + record.Payload.Length;

    /// <summary>Writes one record into <paramref name="writer"/>; returns its size.</summary>
    public static int Write(IBufferWriter<byte> writer, in AppendRecord record, long offset)
    {
        var size = SizeOf(record);
        var span = writer.GetSpan(size)[..size];
        BinaryPrimitives.WriteInt32LittleEndian(span, size - 4);
        var body = span[PrefixSize..];
        BinaryPrimitives.WriteInt64LittleEndian(body, offset);
        BinaryPrimitives.WriteInt64LittleEndian(body[8..], record.Timestamp.ToUnixTimeMilliseconds());
        var at = 16;
        at += WriteString(body[at..], record.Key);
        at += WriteString(body[at..], record.Topic);
        record.Payload.Span.CopyTo(body[at..]);
        BinaryPrimitives.WriteUInt32LittleEndian(span[4..], Crc32.HashToUInt32(body));
        writer.Advance(size);
        return size;
    }

    /// <summary>Reads the length prefix: the record's whole size, or -1 when the value cannot be a record.</summary>
    public static int ReadSize(ReadOnlySpan<byte> prefix)
    {
        var length = BinaryPrimitives.ReadInt32LittleEndian(prefix);
        return length < 4 + FixedBodySize || length > MaxRecordSize - 4 ? -1 : length + 4;
    }

    /// <summary>Checks the CRC and decodes a whole record; false when it is corrupt.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> record, out StreamRecord? result)
    {
        result = null;
        var body = record[PrefixSize..];
        if (Crc32.HashToUInt32(body) != BinaryPrimitives.ReadUInt32LittleEndian(record[4..]))
        {
            return false;
        }

        var offset = BinaryPrimitives.ReadInt64LittleEndian(body);
        var timestamp = BinaryPrimitives.ReadInt64LittleEndian(body[8..]);
        var at = 16;
        if (!TryReadString(body, ref at, out var key) || !TryReadString(body, ref at, out var topic))
        {
            return false;
        }

        result = new StreamRecord(offset, DateTimeOffset.FromUnixTimeMilliseconds(timestamp), key, topic, body[at..].ToArray());
        return true;
    }

    /// <summary>Whether the record's CRC matches its body.</summary>
    public static bool IsValid(ReadOnlySpan<byte> record) =>
        Crc32.HashToUInt32(record[PrefixSize..]) == BinaryPrimitives.ReadUInt32LittleEndian(record[4..]);

    /// <summary>The offset and timestamp of an encoded record, without checking it.</summary>
    public static (long Offset, long TimestampMs) Peek(ReadOnlySpan<byte> record) =>
        (BinaryPrimitives.ReadInt64LittleEndian(record[PrefixSize..]), BinaryPrimitives.ReadInt64LittleEndian(record[(PrefixSize + 8)..]));

    private static int Utf8Length(string? value) => value is null ? 0 : Encoding.UTF8.GetByteCount(value);

    private static int WriteString(Span<byte> target, string? value)
    {
        if (value is null)
        {
            BinaryPrimitives.WriteInt16LittleEndian(target, -1);
            return 2;
        }

        var written = Encoding.UTF8.GetBytes(value, target[2..]);
        BinaryPrimitives.WriteInt16LittleEndian(target, checked((short)written));
        return 2 + written;
    }

    private static bool TryReadString(ReadOnlySpan<byte> body, ref int at, out string? value)
    {
        value = null;
        if (at + 2 > body.Length)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadInt16LittleEndian(body[at..]);
        at += 2;
        if (length < 0)
        {
            return length == -1;
        }

        if (at + length > body.Length)
        {
            return false;
        }

        value = Encoding.UTF8.GetString(body.Slice(at, length));
        at += length;
        return true;
    }
}
