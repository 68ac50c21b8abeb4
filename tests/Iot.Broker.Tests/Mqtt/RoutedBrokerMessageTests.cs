using System.Text;
using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;
using Iot.Messaging;
using Microsoft.Extensions.Options;
using MQTTnet.Packets;

namespace Iot.Broker.Tests.Mqtt;

/// <summary>
/// The routing layer is handed the broker's own message (no copy per publish): what it reads through
/// <see cref="IRoutedMessage"/> must be what the publisher sent.
/// </summary>
public sealed class RoutedBrokerMessageTests
{
    [Fact]
    public void AsRoutedMessage_ItShowsTheMqttFields_UnderTheRoutingNames()
    {
        var payload = Encoding.UTF8.GetBytes("""{"t":21.5}""");
        var message = new BrokerMessage
        {
            Topic = "devices/d1/telemetry",
            Payload = payload,
            QualityOfService = 1,
            ContentType = "application/json",
            UserProperties = [new MqttUserProperty("site", Encoding.UTF8.GetBytes("north")), new MqttUserProperty("site", Encoding.UTF8.GetBytes("south"))],
            SourceClientId = "d1",
            ReceivedAtUnixMs = 1_796_400_000_123,
        };

        IRoutedMessage routed = message;
        Assert.Equal("devices/d1/telemetry", routed.Topic);
        Assert.True(routed.Payload.Span.SequenceEqual(payload));
        Assert.Equal(1, routed.QualityOfService);
        Assert.Equal("application/json", routed.ContentType);
        Assert.Equal([new("site", "north"), new("site", "south")], routed.UserProperties); // in order, names may repeat
        Assert.Equal("d1", routed.SourceClientId);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1_796_400_000_123), routed.ReceivedAt);
    }

    [Fact]
    public void AsRoutedMessage_WithoutProperties_ItHasNoUserProperties()
    {
        IRoutedMessage routed = new BrokerMessage { Topic = "a/b", Payload = Array.Empty<byte>() };
        Assert.Empty(routed.UserProperties);
        Assert.Null(routed.ContentType);
        Assert.Null(routed.SourceClientId);
    }

    [Fact]
    public async Task Publish_HandsTheRouterTheMessageItself_AndOnlyForClientPublishes()
    {
        var router = new RecordingRouter();
        var context = new BrokerContext(Options.Create(new MqttOptions()), new NoStore(), new BrokerMetrics(), new ManualTime());
        var dispatcher = new MessageDispatcher(new SubscriptionIndex(), new RetainedMessages(context), new BrokerMetrics(), router);

        var fromClient = new BrokerMessage { Topic = "devices/d1/telemetry", Payload = new byte[] { 1, 2 }, SourceClientId = "d1" };
        await dispatcher.PublishAsync(fromClient, "d1");
        var fromPlatform = new BrokerMessage { Topic = "devices/d1/commands/ping", Payload = new byte[] { 3 } };
        await dispatcher.PublishAsync(fromPlatform, null);

        // The same object, not a copy; messages the platform publishes itself are not routed again (no loops).
        Assert.Same(fromClient, Assert.Single(router.Seen));
    }

    private sealed class RecordingRouter : IMessageRouter
    {
        public List<IRoutedMessage> Seen { get; } = [];

        public Task RouteAsync(IRoutedMessage message)
        {
            Seen.Add(message);
            return Task.CompletedTask;
        }
    }
}
