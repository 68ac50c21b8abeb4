using System.Text;
using Iot.Routing.Commands;
using Iot.TestUtilities;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>The broker side of device commands: readiness, delivery to the device alone, PUBACK as the outcome.</summary>
[Collection(ProtocolBroker.Name)]
[Trait("Category", "Integration")]
public sealed class CommandChannelTests(BrokerFixture broker)
{
    private IDeviceCommandChannel Channel => broker.App.Services.GetRequiredService<IDeviceCommandChannel>();

    [Fact]
    public async Task SendAsync_ReachesOnlyTheDevice_WithResponseTopic_AndCompletesOnPubAck()
    {
        var deviceId = Ids.Client("cmd-dev");
        var ready = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnReady(string id)
        {
            if (id == deviceId)
            {
                ready.TrySetResult(id);
            }
        }

        Channel.DeviceReady += OnReady;
        try
        {
            await using var watcher = await TestClient.ConnectAsync(broker, Ids.Client("cmd-watch"));
            await watcher.SubscribeAsync("devices/#");
            await using var device = await TestClient.ConnectAsync(broker, deviceId);
            Assert.False(Channel.IsReady(deviceId));
            await device.SubscribeAsync($"devices/{deviceId}/commands/#");
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.True(Channel.IsReady(deviceId));

            var acked = await Channel.SendAsync(new DeviceCommandMessage(
                deviceId, $"devices/{deviceId}/commands/reboot/c-1", Encoding.UTF8.GetBytes("{\"delay\":1}"),
                $"devices/{deviceId}/responses/c-1", Encoding.UTF8.GetBytes("c-1"), 60, "application/json"));

            Assert.True(acked);
            var command = await device.ReceiveAsync();
            Assert.Equal($"devices/{deviceId}/commands/reboot/c-1", command.Topic);
            Assert.Equal($"devices/{deviceId}/responses/c-1", command.ResponseTopic);
            Assert.Equal("c-1", Encoding.UTF8.GetString(command.CorrelationData));
            Assert.Equal(MqttQualityOfServiceLevel.AtLeastOnce, command.QualityOfServiceLevel);
            Assert.Null(await watcher.TryReceiveAsync(TimeSpan.FromMilliseconds(500)));
        }
        finally
        {
            Channel.DeviceReady -= OnReady;
        }
    }

    [Fact]
    public async Task SendAsync_DeviceThatLeavesWithoutPubAck_ReportsFalse()
    {
        var deviceId = Ids.Client("cmd-gone");
        using var device = new MqttClientFactory().CreateMqttClient();
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        device.ApplicationMessageReceivedAsync += e =>
        {
            e.AutoAcknowledge = false; // never PUBACK
            received.TrySetResult();
            return Task.CompletedTask;
        };
        await device.ConnectAsync(broker.CreateMqttClientOptions(deviceId));
        await device.SubscribeAsync($"devices/{deviceId}/commands/#", MqttQualityOfServiceLevel.AtLeastOnce);

        var send = Channel.SendAsync(new DeviceCommandMessage(deviceId, $"devices/{deviceId}/commands/ping/c-2", Encoding.UTF8.GetBytes("{}")));
        await received.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.False(send.IsCompleted);
        device.Dispose(); // the connection drops without PUBACK
        Assert.False(await send.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.False(Channel.IsReady(deviceId));
        Assert.False(await Channel.SendAsync(new DeviceCommandMessage(deviceId, $"devices/{deviceId}/commands/ping/c-3", Encoding.UTF8.GetBytes("{}"))));
    }
}
