using System.Text;
using Iot.Broker.Mqtt;
using MQTTnet.Packets;

namespace Iot.Broker.Tests.Persistence;

internal static class TestMessages
{
    /// <summary>A message with every optional field set, including non-ASCII text.</summary>
    public static BrokerMessage Full(string topic = "devices/dev-1/commands/reboot/c-42") => new()
    {
        Topic = topic,
        Payload = Encoding.UTF8.GetBytes("{\"delay\":5,\"reason\":\"größe ✓\"}"),
        QualityOfService = 2,
        Retain = true,
        ExpiresAtUnixMs = 1_900_000_000_123,
        ReceivedAtUnixMs = 1_700_000_000_456,
        ContentType = "application/json",
        ResponseTopic = "devices/dev-1/responses/c-42",
        CorrelationData = [0x00, 0xFF, 0x10, 0x80],
        PayloadFormatIndicator = 1,
        UserProperties =
        [
            Property("trace-id", "4bf92f3577b34da6"),
            Property("ünïcödé", "värde"),
            Property("empty", string.Empty),
        ],
        SourceClientId = "service-api",
    };

    /// <summary>A message with every optional field absent.</summary>
    public static BrokerMessage Minimal(string topic, string payload = "") => new()
    {
        Topic = topic,
        Payload = Encoding.UTF8.GetBytes(payload),
    };

    public static MqttUserProperty Property(string name, string value) =>
        new(name, Encoding.UTF8.GetBytes(value).AsMemory());

    public static void AssertEqual(BrokerMessage expected, BrokerMessage actual)
    {
        Assert.Equal(expected.Topic, actual.Topic);
        Assert.Equal(expected.Payload.ToArray(), actual.Payload.ToArray());
        Assert.Equal(expected.QualityOfService, actual.QualityOfService);
        Assert.Equal(expected.Retain, actual.Retain);
        Assert.Equal(expected.ExpiresAtUnixMs, actual.ExpiresAtUnixMs);
        Assert.Equal(expected.ReceivedAtUnixMs, actual.ReceivedAtUnixMs);
        Assert.Equal(expected.ContentType, actual.ContentType);
        Assert.Equal(expected.ResponseTopic, actual.ResponseTopic);
        Assert.Equal(expected.CorrelationData, actual.CorrelationData);
        Assert.Equal(expected.PayloadFormatIndicator, actual.PayloadFormatIndicator);
        Assert.Equal(expected.SourceClientId, actual.SourceClientId);
        if (expected.UserProperties is null)
        {
            Assert.Null(actual.UserProperties);
            return;
        }

        Assert.NotNull(actual.UserProperties);
        Assert.Equal(
            expected.UserProperties.Select(p => (p.Name, p.ValueBuffer.ToArray())),
            actual.UserProperties.Select(p => (p.Name, p.ValueBuffer.ToArray())));
    }
}
