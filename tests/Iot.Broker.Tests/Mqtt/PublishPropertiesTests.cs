using Iot.Broker.Mqtt;

namespace Iot.Broker.Tests.Mqtt;

/// <summary>Issue 17: a Topic Alias of 0 is told apart from no alias [MQTT-3.3.2-8].</summary>
public sealed class PublishPropertiesTests
{
    [Theory]
    [InlineData(0, new byte[] { 0x23, 0x00, 0x00 }, true)]
    [InlineData(1, new byte[] { 0x23, 0x00, 0x00 }, true)]
    [InlineData(1, new byte[] { 0x23, 0x00, 0x05 }, false)]
    [InlineData(1, new byte[] { 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x3C, 0x23, 0x00, 0x00 }, true)]
    [InlineData(0, new byte[] { 0x26, 0x00, 0x01, (byte)'k', 0x00, 0x01, (byte)'v', 0x23, 0x00, 0x00 }, true)]
    [InlineData(0, new byte[] { 0x03, 0x00, 0x02, 0x23, 0x00, 0x0B, 0x81, 0x01 }, false)]
    [InlineData(0, new byte[0], false)]
    public void HasTopicAliasZero_FindsTheProperty(int qos, byte[] properties, bool expected)
    {
        Assert.Equal(expected, PublishProperties.HasTopicAliasZero(Body("a/b", qos, properties), qos));
    }

    [Fact]
    public void HasTopicAliasZero_CutProperties_LeavesThemToTheDecoder()
    {
        // The property length says 3, but the body ends after 0x23 0x00 (no payload either).
        var body = Body("a/b", 0, [0x23, 0x00, 0x00]);
        Assert.False(PublishProperties.HasTopicAliasZero(body.AsSpan(0, body.Length - "payload".Length - 1), 0));
    }

    /// <summary>A PUBLISH body: topic, packet identifier for QoS 1/2, property length, properties, a payload.</summary>
    private static byte[] Body(string topic, int qos, byte[] properties)
    {
        var bytes = new List<byte> { 0, (byte)topic.Length };
        bytes.AddRange(System.Text.Encoding.ASCII.GetBytes(topic));
        if (qos > 0)
        {
            bytes.AddRange([0x00, 0x07]);
        }

        bytes.Add((byte)properties.Length);
        bytes.AddRange(properties);
        bytes.AddRange("payload"u8.ToArray());
        return [.. bytes];
    }
}
