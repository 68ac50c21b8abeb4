using System.Buffers.Binary;
using System.IO.Hashing;
using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;
using MQTTnet.Packets;

namespace Iot.Broker.Tests.Persistence;

public sealed class BrokerMessageSerializerTests
{
    [Fact]
    public void Serialize_AllFields_RoundTrips()
    {
        var message = TestMessages.Full();

        var copy = BrokerMessageSerializer.Deserialize(BrokerMessageSerializer.Serialize(message));

        TestMessages.AssertEqual(message, copy);
        Assert.Equal("värde", copy.UserProperties![1].ReadValueAsString());
    }

    [Fact]
    public void Serialize_OptionalFieldsNull_RoundTripsAsNull()
    {
        var message = TestMessages.Minimal("a/b");

        var copy = BrokerMessageSerializer.Deserialize(BrokerMessageSerializer.Serialize(message));

        TestMessages.AssertEqual(message, copy);
        Assert.Null(copy.ContentType);
        Assert.Null(copy.CorrelationData);
        Assert.Null(copy.UserProperties);
        Assert.Null(copy.SourceClientId);
        Assert.Equal(0, copy.Payload.Length);
    }

    [Fact]
    public void Serialize_EmptyOptionalFields_StayDistinctFromNull()
    {
        var message = new BrokerMessage
        {
            Topic = "t",
            Payload = Array.Empty<byte>(),
            ContentType = string.Empty,
            ResponseTopic = string.Empty,
            CorrelationData = [],
            UserProperties = [],
            SourceClientId = string.Empty,
        };

        var copy = BrokerMessageSerializer.Deserialize(BrokerMessageSerializer.Serialize(message));

        TestMessages.AssertEqual(message, copy);
        Assert.Equal(string.Empty, copy.ContentType);
        Assert.NotNull(copy.CorrelationData);
        Assert.Empty(copy.UserProperties!);
    }

    [Fact]
    public void Serialize_LargePayload_RoundTrips()
    {
        var payload = new byte[3 * 1024 * 1024 + 17];
        new Random(42).NextBytes(payload);
        var message = new BrokerMessage { Topic = new string('t', 70_000), Payload = payload, QualityOfService = 1 };

        var copy = BrokerMessageSerializer.Deserialize(BrokerMessageSerializer.Serialize(message));

        TestMessages.AssertEqual(message, copy);
    }

    [Fact]
    public void Serialize_Minimal_HasTheDocumentedVersion1Layout()
    {
        var message = new BrokerMessage
        {
            Topic = "a/b",
            Payload = new byte[] { 0x7B, 0x7D },
            QualityOfService = 1,
            Retain = true,
            ExpiresAtUnixMs = 0x0102030405060708,
            ReceivedAtUnixMs = 1,
            SourceClientId = "c",
        };

        var record = BrokerMessageSerializer.Serialize(message);

        // A persisted format must not drift: this is the v1 encoding byte for byte, CRC aside.
        var expectedBody = Convert.FromHexString(
            "01" + "21" + "01" + "00" +
            "0807060504030201" + "0100000000000000" +
            "03612F62" + "027B7D" + "0163");
        Assert.Equal(expectedBody, record[..^4]);
        Assert.Equal(Crc32.HashToUInt32(expectedBody), BinaryPrimitives.ReadUInt32LittleEndian(record.AsSpan(record.Length - 4)));
    }

    [Fact]
    public void Deserialize_AnySingleBitFlipped_ThrowsInvalidData()
    {
        var record = BrokerMessageSerializer.Serialize(TestMessages.Full());

        for (var i = 0; i < record.Length; i++)
        {
            for (var bit = 0; bit < 8; bit++)
            {
                var corrupt = (byte[])record.Clone();
                corrupt[i] ^= (byte)(1 << bit);

                Assert.Throws<InvalidDataException>(() => BrokerMessageSerializer.Deserialize(corrupt));
            }
        }
    }

    [Fact]
    public void Deserialize_CrcMismatch_SaysSo()
    {
        var record = BrokerMessageSerializer.Serialize(TestMessages.Full());
        record[25] ^= 0x40;

        var ex = Assert.Throws<InvalidDataException>(() => BrokerMessageSerializer.Deserialize(record));

        Assert.Contains("CRC-32 mismatch", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Deserialize_Truncated_ThrowsInvalidData()
    {
        var record = BrokerMessageSerializer.Serialize(TestMessages.Full());

        for (var length = 0; length < record.Length; length++)
        {
            Assert.Throws<InvalidDataException>(() => BrokerMessageSerializer.Deserialize(record.AsSpan(0, length)));
        }
    }

    [Fact]
    public void Deserialize_UnknownVersionWithValidCrc_NamesTheVersion()
    {
        var record = BrokerMessageSerializer.Serialize(TestMessages.Minimal("a"));
        record[0] = 9;
        Reseal(record);

        var ex = Assert.Throws<InvalidDataException>(() => BrokerMessageSerializer.Deserialize(record));

        Assert.Contains("version 9", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1, 0x80)] // unknown flag bit
    [InlineData(2, 3)] // QoS 3
    [InlineData(20, 0x7F)] // topic length runs past the end
    public void Deserialize_MalformedFieldWithValidCrc_ThrowsInvalidData(int offset, byte value)
    {
        var record = BrokerMessageSerializer.Serialize(TestMessages.Minimal("a/b", "xy"));
        record[offset] = value;
        Reseal(record);

        Assert.Throws<InvalidDataException>(() => BrokerMessageSerializer.Deserialize(record));
    }

    [Fact]
    public void Deserialize_InvalidUtf8WithValidCrc_ThrowsInvalidData()
    {
        var record = BrokerMessageSerializer.Serialize(TestMessages.Minimal("ab"));
        record[21] = 0xC3; // a lead byte followed by 'b' is not UTF-8
        Reseal(record);

        Assert.Throws<InvalidDataException>(() => BrokerMessageSerializer.Deserialize(record));
    }

    private static void Reseal(byte[] record) =>
        BinaryPrimitives.WriteUInt32LittleEndian(record.AsSpan(record.Length - 4), Crc32.HashToUInt32(record.AsSpan(0, record.Length - 4)));
}
