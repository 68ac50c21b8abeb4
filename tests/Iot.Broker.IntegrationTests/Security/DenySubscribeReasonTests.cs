using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// Issue 17: an MQTT 5 subscription the rules refuse is answered 0x87 (Not authorized) by default, and 0x80
/// (Unspecified error) with <c>Iot:Mqtt:DenySubscribeWithUnspecifiedError</c>, which the Eclipse Paho interoperability
/// suite's MQTT 5 subscribe-failure test expects. Either way the client's other filters are granted.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DenySubscribeReasonTests
{
    [Theory]
    [InlineData(false, MqttClientSubscribeResultCode.NotAuthorized)]
    [InlineData(true, MqttClientSubscribeResultCode.UnspecifiedError)]
    public async Task RefusedFilter_Mqtt5_AnsweredWithTheConfiguredReason_OtherFiltersGranted(bool unspecified, MqttClientSubscribeResultCode expected)
    {
        await using var broker = await BrokerFixture.StartAsync(
            [.. DenyOverlapTests.DenySecretRules, $"--Iot:Mqtt:DenySubscribeWithUnspecifiedError={unspecified}"]);
        await using var client = await TestClient.ConnectAsync(broker, "paho-like-5");

        var result = await client.Client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter("test/nosubscribe", MqttQualityOfServiceLevel.ExactlyOnce)
            .WithTopicFilter("#", MqttQualityOfServiceLevel.AtMostOnce)
            .Build());

        Assert.Equal([expected, MqttClientSubscribeResultCode.GrantedQoS0], result.Items.Select(i => i.ResultCode));
    }
}
