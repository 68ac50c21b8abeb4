using System.Buffers;

namespace Iot.Broker.Mqtt;

/// <summary>Outcome of reading one MQTT packet off a connection's input.</summary>
internal enum FramingStatus
{
    Packet,
    NeedMoreData,
    TooLarge,
    Malformed,
}

/// <summary>
/// Splits the input into MQTT packets, checking the Remaining Length against the size limit before anything is
/// buffered, so an oversized or lying length field costs nothing.
/// </summary>
internal static class PacketFraming
{
    public static FramingStatus TryRead(ref ReadOnlySequence<byte> buffer, int maxPacketSize, out byte fixedHeader, out byte[] body, out int totalLength)
    {
        fixedHeader = 0;
        body = [];
        totalLength = 0;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryRead(out fixedHeader))
        {
            return FramingStatus.NeedMoreData;
        }

        var remaining = 0;
        var multiplier = 1;
        var lengthBytes = 0;
        byte encoded;
        do
        {
            if (!reader.TryRead(out encoded))
            {
                return FramingStatus.NeedMoreData;
            }

            if (++lengthBytes > 4)
            {
                return FramingStatus.Malformed;
            }

            remaining += (encoded & 0x7F) * multiplier;
            multiplier *= 128;
        }
        while ((encoded & 0x80) != 0);

        totalLength = 1 + lengthBytes + remaining;
        if (totalLength > maxPacketSize)
        {
            return FramingStatus.TooLarge;
        }

        if (reader.Remaining < remaining)
        {
            return FramingStatus.NeedMoreData;
        }

        if (remaining > 0)
        {
            body = new byte[remaining];
            reader.TryCopyTo(body);
            reader.Advance(remaining);
        }

        buffer = buffer.Slice(reader.Position);
        return FramingStatus.Packet;
    }
}
