using System.Buffers;

namespace Iot.Broker.Mqtt;

/// <summary>Outcome of reading one MQTT packet off a connection's input.</summary>
internal enum FramingStatus
{
    Packet,
    NeedMoreData,
    TooLarge,
    Malformed,

    /// <summary>A whole packet the connection handled where it lay in the receive buffer; nothing to pass on.</summary>
    Handled,
}

/// <summary>
/// Splits the input into MQTT packets, checking the Remaining Length against the size limit before anything is
/// buffered, so an oversized or lying length field costs nothing.
/// </summary>
internal static class PacketFraming
{
    /// <summary>The longest fixed header: one byte of type and flags and at most four of Remaining Length.</summary>
    private const int MaxFixedHeaderLength = 5;

    public static FramingStatus TryRead(ref ReadOnlySequence<byte> buffer, int maxPacketSize, out byte fixedHeader, out byte[] body, out int totalLength)
    {
        body = [];
        Span<byte> prefix = stackalloc byte[MaxFixedHeaderLength];
        var available = (int)Math.Min(buffer.Length, MaxFixedHeaderLength);
        buffer.Slice(0, available).CopyTo(prefix);
        var status = TryReadHeader(prefix[..available], maxPacketSize, out fixedHeader, out var headerLength, out totalLength);
        if (status != FramingStatus.Packet)
        {
            return status;
        }

        if (buffer.Length < totalLength)
        {
            return FramingStatus.NeedMoreData;
        }

        if (totalLength > headerLength)
        {
            body = buffer.Slice(headerLength, totalLength - headerLength).ToArray();
        }

        buffer = buffer.Slice(totalLength);
        return FramingStatus.Packet;
    }

    /// <summary>
    /// Reads a fixed header at the start of <paramref name="data"/>: <see cref="FramingStatus.Packet"/> when it is
    /// complete and within the limit (the body, <paramref name="totalLength"/> - <paramref name="headerLength"/> bytes,
    /// may not all be there yet: compare <paramref name="totalLength"/> with what is buffered).
    /// </summary>
    public static FramingStatus TryReadHeader(ReadOnlySpan<byte> data, int maxPacketSize, out byte fixedHeader, out int headerLength, out int totalLength)
    {
        fixedHeader = 0;
        headerLength = 0;
        totalLength = 0;
        if (data.IsEmpty)
        {
            return FramingStatus.NeedMoreData;
        }

        fixedHeader = data[0];
        var remaining = 0;
        var multiplier = 1;
        var index = 1;
        byte encoded;
        do
        {
            if (index >= data.Length)
            {
                return index == MaxFixedHeaderLength ? FramingStatus.Malformed : FramingStatus.NeedMoreData;
            }

            if (index == MaxFixedHeaderLength)
            {
                return FramingStatus.Malformed;
            }

            encoded = data[index++];
            remaining += (encoded & 0x7F) * multiplier;
            multiplier *= 128;
        }
        while ((encoded & 0x80) != 0);

        headerLength = index;
        totalLength = headerLength + remaining;
        return totalLength > maxPacketSize ? FramingStatus.TooLarge : FramingStatus.Packet;
    }
}
