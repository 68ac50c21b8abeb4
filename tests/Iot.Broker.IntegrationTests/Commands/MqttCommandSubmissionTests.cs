using System.Text;
using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using MQTTnet;

namespace Iot.Broker.IntegrationTests.Commands;

/// <summary>Services can send commands over MQTT too: <c>commands/{deviceId}/{name}/{commandId}</c> goes through the durable queue.</summary>
[Collection(CommandBroker.Name)]
[Trait("Category", "Integration")]
public sealed class MqttCommandSubmissionTests(CommandBrokerFixture broker) : IDisposable
{
    private readonly CommandApi _api = new(broker.HttpBaseUri);

    public void Dispose() => _api.Dispose();

    [Fact]
    public async Task ServiceSendsCommandOverMqtt_DeviceGetsIt_ServiceSeesTheAnswer_ApiTracksIt()
    {
        var deviceId = Ids.Client("cmd-mqtt");
        var commandId = "c" + Guid.NewGuid().ToString("N")[..12];
        await using var service = await TestClient.ConnectAsync(broker, Ids.Client("svc"));
        await service.SubscribeAsync($"devices/{deviceId}/responses/{commandId}");

        // Sent while the device is offline: queued durably before the service's PUBACK.
        var sent = await service.PublishAsync($"commands/{deviceId}/setInterval/{commandId}", "{\"seconds\":5}",
            configure: m => m.WithUserProperty("ttl", Encoding.UTF8.GetBytes("3600").AsMemory()));
        Assert.True(sent.IsSuccess);
        Assert.Equal("Queued", await _api.StatusAsync(commandId));

        await using var device = await TestClient.ConnectAsync(broker, deviceId);
        await device.SubscribeAsync($"devices/{deviceId}/commands/#");
        var command = await device.ReceiveAsync(TimeSpan.FromSeconds(15));
        Assert.Equal($"devices/{deviceId}/commands/setInterval/{commandId}", command.Topic);
        Assert.Equal("{\"seconds\":5}", command.ConvertPayloadToString());
        await device.PublishAsync(command.ResponseTopic, "{\"status\":\"ok\"}");

        var answer = await service.ReceiveAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("{\"status\":\"ok\"}", answer.ConvertPayloadToString());
        await _api.WaitForStatusAsync(commandId, "Completed", TimeSpan.FromSeconds(10));

        // The same command id again runs nothing new.
        var again = await service.PublishAsync($"commands/{deviceId}/setInterval/{commandId}", "{\"seconds\":5}");
        Assert.True(again.IsSuccess);
        Assert.Null(await device.TryReceiveAsync(TimeSpan.FromMilliseconds(700)));
    }
}
