using Iot.Broker.Mqtt;

namespace Iot.Broker.Tests.Mqtt;

public sealed class PacketStringsTests
{
    public static TheoryData<byte[]> IllFormed => new()
    {
        new byte[] { 0xFF },
        new byte[] { 0xC0, 0xAF },
        new byte[] { 0xED, 0xA0, 0x80 },
        new byte[] { 0xF4, 0x90, 0x80, 0x80 },
        new byte[] { 0xE2, 0x82 },
        new byte[] { 0x00 },
    };

    [Theory]
    [MemberData(nameof(IllFormed))]
    public void IsWellFormed_IllFormedOrNul_False(byte[] bad) => Assert.False(PacketStrings.IsWellFormed([.. "a/"u8, .. bad, .. "/b"u8]));

    [Fact]
    public void IsWellFormed_TextWithReplacementCharacterAndEmoji_True() =>
        Assert.True(PacketStrings.IsWellFormed("a/\uFFFD/😀/é"u8));

    [Theory]
    [MemberData(nameof(IllFormed))]
    public void Check_Publish311_IllFormedTopic_IsReported(byte[] bad) =>
        Assert.NotNull(PacketStrings.Check(0x30, [.. Prefixed([.. "t/"u8, .. bad]), .. "payload"u8], v5: false));

    [Fact]
    public void Check_Publish311_BinaryPayload_IsNotAString() =>
        Assert.Null(PacketStrings.Check(0x32, [.. Prefixed("t"u8), 0x00, 0x01, 0xFF, 0x00, 0xC0], v5: false));

    [Theory]
    [MemberData(nameof(IllFormed))]
    public void Check_Publish5_IllFormedStringProperties_AreReported(byte[] bad)
    {
        byte[][] properties =
        [
            [0x03, .. Prefixed(bad)],
            [0x08, .. Prefixed(bad)],
            [0x26, .. Prefixed(bad), .. Prefixed("v"u8)],
            [0x26, .. Prefixed("n"u8), .. Prefixed(bad)],
            [0x01, 0x01, 0x02, 0, 0, 0, 9, 0x09, .. Prefixed([0xFF, 0x00]), 0x26, .. Prefixed("n"u8), .. Prefixed(bad)],
        ];
        foreach (var property in properties)
        {
            Assert.NotNull(PacketStrings.Check(0x32, [.. Prefixed("t"u8), 0x00, 0x01, (byte)property.Length, .. property, 0xFF], v5: true));
        }
    }

    [Fact]
    public void Check_Publish5_BinaryCorrelationDataAndPayload_AreNotStrings() =>
        Assert.Null(PacketStrings.Check(0x30, [.. Prefixed("t"u8), 5, 0x09, .. Prefixed([0xFF, 0x00]), 0xFF, 0x00], v5: true));

    [Theory]
    [MemberData(nameof(IllFormed))]
    public void Check_SubscribeAndUnsubscribe_IllFormedSecondFilter_IsReported(byte[] bad)
    {
        Assert.NotNull(PacketStrings.Check(0x82, [0, 1, .. Prefixed("ok"u8), 1, .. Prefixed(bad), 1], v5: false));
        Assert.NotNull(PacketStrings.Check(0x82, [0, 1, 0, .. Prefixed("ok"u8), 1, .. Prefixed(bad), 1], v5: true));
        Assert.NotNull(PacketStrings.Check(0xA2, [0, 1, .. Prefixed("ok"u8), .. Prefixed(bad)], v5: false));
        Assert.NotNull(PacketStrings.Check(0xA2, [0, 1, 0, .. Prefixed("ok"u8), .. Prefixed(bad)], v5: true));
        Assert.Null(PacketStrings.Check(0x82, [0, 1, .. Prefixed("ok"u8), 1, .. Prefixed("fine/#"u8), 1], v5: false));
    }

    [Fact]
    public void Check_TruncatedBody_IsLeftToTheDecoder() =>
        Assert.Null(PacketStrings.Check(0x30, [0x00, 0x10, (byte)'t'], v5: false));

    [Theory]
    [InlineData(0x04 | 0x18, "Will QoS 3")]
    [InlineData(0x18, "Will QoS 3")]
    [InlineData(0x20, "Will QoS or Will Retain set without the Will Flag")]
    [InlineData(0x08, "Will QoS or Will Retain set without the Will Flag")]
    [InlineData(0x01, "the reserved CONNECT flag is set")]
    public void CheckConnect_BadWillFlags_AreReported(byte flags, string expected)
    {
        byte[] will = (flags & 0x04) != 0 ? [.. Prefixed("w"u8), .. Prefixed("x"u8)] : [];
        Assert.Equal(expected, PacketStrings.CheckConnect([.. Prefixed("MQTT"u8), 4, (byte)(flags | 0x02), 0, 30, .. Prefixed("c"u8), .. will]));
    }

    [Fact]
    public void CheckConnect_ValidWillAndCredentials_IsNull()
    {
        byte[] body = [.. Prefixed("MQTT"u8), 5, 0x02 | 0x04 | 0x10 | 0x20 | 0x40 | 0x80, 0, 30, 0, .. Prefixed("c"u8),
            3, 0x18, 0, 0, .. Prefixed("w/é"u8), .. Prefixed([0xFF]), .. Prefixed("user"u8), .. Prefixed([0x00, 0xFF])];
        Assert.Null(PacketStrings.CheckConnect(body));
    }

    [Theory]
    [MemberData(nameof(IllFormed))]
    public void CheckConnect_IllFormedClientIdWillTopicUsernameOrUserProperty_IsReported(byte[] bad)
    {
        Assert.NotNull(PacketStrings.CheckConnect([.. Prefixed("MQTT"u8), 4, 0x02, 0, 30, .. Prefixed(bad)]));
        Assert.NotNull(PacketStrings.CheckConnect([.. Prefixed("MQTT"u8), 4, 0x06, 0, 30, .. Prefixed("c"u8), .. Prefixed(bad), .. Prefixed("x"u8)]));
        Assert.NotNull(PacketStrings.CheckConnect([.. Prefixed("MQTT"u8), 4, 0x82, 0, 30, .. Prefixed("c"u8), .. Prefixed(bad)]));
        byte[] property = [0x26, .. Prefixed(bad), .. Prefixed("v"u8)];
        Assert.NotNull(PacketStrings.CheckConnect([.. Prefixed("MQTT"u8), 5, 0x02, 0, 30, (byte)property.Length, .. property, .. Prefixed("c"u8)]));
    }

    private static byte[] Prefixed(ReadOnlySpan<byte> value) => [(byte)(value.Length >> 8), (byte)value.Length, .. value];
}
