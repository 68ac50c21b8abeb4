using System.Buffers;
using Iot.Broker.Mqtt;

namespace Iot.Broker.Tests.Mqtt;

public sealed class PacketFramingTests
{
    [Theory]
    [InlineData(new byte[] { 0x40, 0x02, 0x00, 0x01 }, 0x40, 2, 4)]
    [InlineData(new byte[] { 0xC0, 0x00 }, 0xC0, 2, 2)]
    [InlineData(new byte[] { 0x30, 0x80, 0x01 }, 0x30, 3, 131)] // body not there yet: still a complete header
    [InlineData(new byte[] { 0x30, 0xFF, 0xFF, 0xFF, 0x7F }, 0x30, 5, 268_435_460)]
    public void TryReadHeader_CompleteHeader(byte[] data, byte header, int headerLength, int total)
    {
        var status = PacketFraming.TryReadHeader(data, int.MaxValue, out var fixedHeader, out var length, out var totalLength);
        Assert.Equal(FramingStatus.Packet, status);
        Assert.Equal(header, fixedHeader);
        Assert.Equal(headerLength, length);
        Assert.Equal(total, totalLength);
    }

    [Theory]
    [InlineData(new byte[] { })]
    [InlineData(new byte[] { 0x30 })]
    [InlineData(new byte[] { 0x30, 0x80 })]
    [InlineData(new byte[] { 0x30, 0xFF, 0xFF, 0xFF })]
    public void TryReadHeader_IncompleteHeader_NeedsMoreData(byte[] data) =>
        Assert.Equal(FramingStatus.NeedMoreData, PacketFraming.TryReadHeader(data, int.MaxValue, out _, out _, out _));

    [Fact]
    public void TryReadHeader_FifthLengthByte_IsMalformed_EvenBeforeItArrives()
    {
        Assert.Equal(FramingStatus.Malformed, PacketFraming.TryReadHeader([0x30, 0xFF, 0xFF, 0xFF, 0xFF], int.MaxValue, out _, out _, out _));
        Assert.Equal(FramingStatus.Malformed, PacketFraming.TryReadHeader([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], int.MaxValue, out _, out _, out _));
    }

    [Fact]
    public void TryReadHeader_OverTheLimit_IsTooLarge_BeforeTheBodyArrives() =>
        Assert.Equal(FramingStatus.TooLarge, PacketFraming.TryReadHeader([0x30, 0xFF, 0x7F], 1024, out _, out _, out _));

    [Fact]
    public void TryRead_SplitsPacketsAcrossSegments_AndLeavesTheRest()
    {
        // Two packets and the start of a third, cut into one-byte segments.
        byte[] bytes = [0x30, 0x05, 0x00, 0x01, (byte)'t', 0xAA, 0xBB, 0xC0, 0x00, 0x40, 0x02, 0x00];
        var buffer = OneByteSegments(bytes);

        Assert.Equal(FramingStatus.Packet, PacketFraming.TryRead(ref buffer, 1024, out var header, out var body, out var total));
        Assert.Equal(0x30, header);
        Assert.Equal(new byte[] { 0x00, 0x01, (byte)'t', 0xAA, 0xBB }, body);
        Assert.Equal(7, total);

        Assert.Equal(FramingStatus.Packet, PacketFraming.TryRead(ref buffer, 1024, out header, out body, out total));
        Assert.Equal(0xC0, header);
        Assert.Empty(body);
        Assert.Equal(2, total);

        Assert.Equal(FramingStatus.NeedMoreData, PacketFraming.TryRead(ref buffer, 1024, out _, out _, out _));
        Assert.Equal(3, buffer.Length);
    }

    [Fact]
    public void TryRead_LimitAndMalformedLength_AcrossSegments()
    {
        var tooLarge = OneByteSegments([0x30, 0xFF, 0x7F]);
        Assert.Equal(FramingStatus.TooLarge, PacketFraming.TryRead(ref tooLarge, 1024, out _, out _, out _));
        var malformed = OneByteSegments([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]);
        Assert.Equal(FramingStatus.Malformed, PacketFraming.TryRead(ref malformed, int.MaxValue, out _, out _, out _));
    }

    private static ReadOnlySequence<byte> OneByteSegments(byte[] bytes)
    {
        var first = new Segment(bytes.AsMemory(0, 1), 0);
        var last = first;
        for (var i = 1; i < bytes.Length; i++)
        {
            last = last.Append(bytes.AsMemory(i, 1));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
