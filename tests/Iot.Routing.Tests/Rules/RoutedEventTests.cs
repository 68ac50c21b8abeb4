using System.Text;
using System.Text.Json;
using Iot.Messaging;
using Iot.Routing.Rules;

namespace Iot.Routing.Tests.Rules;

public class RoutedEventTests
{
    [Theory]
    [InlineData("devices/d1/events/alarm", "iot.device.event.alarm", "/iot/devices/d1")]
    [InlineData("devices/d1/events/door/open", "iot.device.event.door.open", "/iot/devices/d1")]
    [InlineData("devices/d 2/telemetry", "iot.device.telemetry", "/iot/devices/d%202")]
    [InlineData("devices/d1/responses/42", "iot.mqtt.message", "/iot/devices/d1")]
    [InlineData("sensors/x", "iot.mqtt.message", "/iot/mqtt")]
    public void Describe_Topic_FollowsConvention(string topic, string type, string source) =>
        Assert.Equal((type, source), RoutedEvent.Describe(topic));

    [Fact]
    public void Encode_JsonPayload_IsStructuredCloudEventWithData()
    {
        var at = new DateTimeOffset(2026, 11, 24, 10, 0, 0, TimeSpan.Zero);
        using var e = RoutedEvent.FromMessage(new RoutedMessage
        {
            Topic = "devices/d1/events/alarm",
            Payload = Encoding.UTF8.GetBytes("""{"level":3}"""),
            ReceivedAt = at,
        }, TimeProvider.System);

        using var json = JsonDocument.Parse(e.Encode());
        var root = json.RootElement;
        Assert.Equal("1.0", root.GetProperty("specversion").GetString());
        Assert.Equal("iot.device.event.alarm", root.GetProperty("type").GetString());
        Assert.Equal("/iot/devices/d1", root.GetProperty("source").GetString());
        Assert.Equal("devices/d1/events/alarm", root.GetProperty("subject").GetString());
        Assert.Equal("application/json", root.GetProperty("datacontenttype").GetString());
        Assert.Equal(3, root.GetProperty("data").GetProperty("level").GetInt32());
        Assert.Equal(at, root.GetProperty("time").GetDateTimeOffset());
        Assert.False(string.IsNullOrEmpty(root.GetProperty("id").GetString()));
    }

    [Fact]
    public void Encode_BinaryPayload_IsDataBase64()
    {
        using var e = RoutedEvent.FromMessage(new RoutedMessage
        {
            Topic = "cameras/1/frame",
            Payload = new byte[] { 0xff, 0x00, 0x7b },
            ContentType = "image/jpeg",
            ReceivedAt = DateTimeOffset.UnixEpoch,
        }, TimeProvider.System);

        using var json = JsonDocument.Parse(e.Encode());
        Assert.Equal(Convert.ToBase64String(new byte[] { 0xff, 0x00, 0x7b }), json.RootElement.GetProperty("data_base64").GetString());
        Assert.Equal("image/jpeg", json.RootElement.GetProperty("datacontenttype").GetString());
        Assert.False(json.RootElement.TryGetProperty("data", out _));
    }
}
