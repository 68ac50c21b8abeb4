using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>MQTT 3.1.1 persistent sessions (Clean Session = 0): subscriptions and QoS 1/2 messages wait for the client.</summary>
[Collection(ProtocolBroker.Name)]
[Trait("Category", "Integration")]
public sealed class Mqtt311SessionTests(BrokerFixture broker)
{
    [Fact]
    public async Task CleanSessionFalse_QueuedMessagesArriveOnReconnect_InOrder()
    {
        var topic = TestIds.Topic("v311-persist");
        var clientId = Ids.Client("v311");
        await using (var first = await TestClient.ConnectAsync(broker, clientId, o => o.WithCleanSession(false), MqttProtocolVersion.V311))
        {
            Assert.False(first.ConnectResult!.IsSessionPresent);
            await first.SubscribeAsync(topic, MqttQualityOfServiceLevel.ExactlyOnce);
        }

        await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("v311-pub"), version: MqttProtocolVersion.V311);
        await publisher.PublishAsync(topic, "q0", MqttQualityOfServiceLevel.AtMostOnce);
        await publisher.PublishAsync(topic, "q1", MqttQualityOfServiceLevel.AtLeastOnce);
        await publisher.PublishAsync(topic, "q2", MqttQualityOfServiceLevel.ExactlyOnce);

        await using var again = await TestClient.ConnectAsync(broker, clientId, o => o.WithCleanSession(false), MqttProtocolVersion.V311);
        Assert.True(again.ConnectResult!.IsSessionPresent);
        var one = await again.ReceiveAsync();
        var two = await again.ReceiveAsync();
        Assert.Equal(("q1", MqttQualityOfServiceLevel.AtLeastOnce), (one.ConvertPayloadToString(), one.QualityOfServiceLevel));
        Assert.Equal(("q2", MqttQualityOfServiceLevel.ExactlyOnce), (two.ConvertPayloadToString(), two.QualityOfServiceLevel));
        Assert.Null(await again.TryReceiveAsync(TimeSpan.FromMilliseconds(500)));
    }

    [Fact]
    public async Task CleanSessionTrue_DiscardsThePreviousSession()
    {
        var topic = TestIds.Topic("v311-clean");
        var clientId = Ids.Client("v311c");
        await using (var first = await TestClient.ConnectAsync(broker, clientId, o => o.WithCleanSession(false), MqttProtocolVersion.V311))
        {
            await first.SubscribeAsync(topic);
        }

        await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("v311c-pub"), version: MqttProtocolVersion.V311);
        await publisher.PublishAsync(topic, "lost with the session");

        await using var clean = await TestClient.ConnectAsync(broker, clientId, o => o.WithCleanSession(true), MqttProtocolVersion.V311);
        Assert.False(clean.ConnectResult!.IsSessionPresent);
        await publisher.PublishAsync(topic, "not subscribed any more");
        Assert.Null(await clean.TryReceiveAsync(TimeSpan.FromMilliseconds(700)));
    }
}
