using System.Text;
using System.Threading.Channels;
using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Commands;

/// <summary>Issue 5's "done when", through the real broker with real MQTT devices (MQTT 5 and 3.1.1).</summary>
[Collection(CommandBroker.Name)]
[Trait("Category", "Integration")]
public sealed class DeviceCommandEndToEndTests(CommandBrokerFixture broker) : IDisposable
{
    private readonly CommandApi _api = new(broker.HttpBaseUri);

    public void Dispose() => _api.Dispose();

    private async Task<TestClient> ConnectDeviceAsync(string deviceId, MqttProtocolVersion version = MqttProtocolVersion.V500)
    {
        var device = await TestClient.ConnectAsync(broker, deviceId, version: version);
        await device.SubscribeAsync($"devices/{deviceId}/commands/#");
        return device;
    }

    private static string CommandIdOf(MqttApplicationMessage command) => command.Topic[(command.Topic.LastIndexOf('/') + 1)..];

    [Fact]
    public async Task OfflineDevice_CommandWith1hTtl_DeliveredOnConnect_AnswerReturnedByGet()
    {
        var deviceId = Ids.Client("cmd-off");
        var (status, sent, location) = await _api.PostAsync(deviceId, "reboot", """{"delay":1}""", "?ttl=3600");
        Assert.Equal(202, status);
        var commandId = sent.GetProperty("commandId").GetString()!;
        Assert.Equal($"/api/commands/{commandId}", location);
        Assert.Equal("Queued", await _api.StatusAsync(commandId));

        await using var device = await ConnectDeviceAsync(deviceId);
        var command = await device.ReceiveAsync(TimeSpan.FromSeconds(15));
        Assert.Equal($"devices/{deviceId}/commands/reboot/{commandId}", command.Topic);
        Assert.Equal(MqttQualityOfServiceLevel.AtLeastOnce, command.QualityOfServiceLevel);
        Assert.Equal($"devices/{deviceId}/responses/{commandId}", command.ResponseTopic);
        Assert.Equal(commandId, Encoding.UTF8.GetString(command.CorrelationData));
        Assert.Equal("""{"delay":1}""", Encoding.UTF8.GetString(command.Payload));
        Assert.InRange(command.MessageExpiryInterval, 1u, 3600u);

        await _api.WaitForStatusAsync(commandId, "Delivered", TimeSpan.FromSeconds(10));
        var ack = await device.PublishAsync(command.ResponseTopic, """{"status":"ok","rebootedIn":1}""");
        Assert.True(ack.IsSuccess);

        var done = await _api.WaitForStatusAsync(commandId, "Completed", TimeSpan.FromSeconds(10));
        Assert.Equal(1, done.GetProperty("answer").GetProperty("rebootedIn").GetInt32());
        Assert.Equal(1, done.GetProperty("deliveryCount").GetInt32());
    }

    [Fact]
    public async Task ConnectedDevice_PostWithWait_200WithTheAnswer()
    {
        var deviceId = Ids.Client("cmd-wait");
        await using var device = await ConnectDeviceAsync(deviceId);
        var answering = Task.Run(async () =>
        {
            var command = await device.ReceiveAsync(TimeSpan.FromSeconds(15));
            await device.PublishAsync(command.ResponseTopic, """{"temperature":21.5}""");
        });

        var (status, body, _) = await _api.PostAsync(deviceId, "read", "{}", "?wait=15");
        await answering;
        Assert.Equal(200, status);
        Assert.Equal("Completed", body.GetProperty("status").GetString());
        Assert.Equal(21.5, body.GetProperty("answer").GetProperty("temperature").GetDouble());
    }

    [Fact]
    public async Task Mqtt311Device_ReceivesCommandAndAnswersOnResponseTopic()
    {
        var deviceId = Ids.Client("cmd-v311");
        await using var device = await ConnectDeviceAsync(deviceId, MqttProtocolVersion.V311);
        var (_, sent, _) = await _api.PostAsync(deviceId, "setLevel", """{"level":3}""");
        var commandId = sent.GetProperty("commandId").GetString()!;

        var command = await device.ReceiveAsync(TimeSpan.FromSeconds(15));
        Assert.Equal($"devices/{deviceId}/commands/setLevel/{commandId}", command.Topic);
        Assert.Null(command.ResponseTopic);
        await device.PublishAsync($"devices/{deviceId}/responses/{CommandIdOf(command)}", """{"status":"failed","reason":"busy"}""");

        var done = await _api.WaitForStatusAsync(commandId, "Failed", TimeSpan.FromSeconds(10));
        Assert.Equal("busy", done.GetProperty("answer").GetProperty("reason").GetString());
    }

    [Fact]
    public async Task SameMessageIdTwice_RunsOnce()
    {
        var deviceId = Ids.Client("cmd-dup");
        var (_, first, _) = await _api.PostAsync(deviceId, "open", "{}", "?messageId=op-1");
        var (_, second, _) = await _api.PostAsync(deviceId, "open", "{}", "?messageId=op-1");
        var commandId = first.GetProperty("commandId").GetString()!;
        Assert.Equal(commandId, second.GetProperty("commandId").GetString());

        await using var device = await ConnectDeviceAsync(deviceId);
        var command = await device.ReceiveAsync(TimeSpan.FromSeconds(15));
        await device.PublishAsync(command.ResponseTopic, "{}");
        await _api.WaitForStatusAsync(commandId, "Completed", TimeSpan.FromSeconds(10));

        // A positive control: a later command arrives, and nothing came between the two.
        var (_, later, _) = await _api.PostAsync(deviceId, "close", "{}");
        var next = await device.ReceiveAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(later.GetProperty("commandId").GetString(), CommandIdOf(next));
    }

    [Fact]
    public async Task DeviceNeverAnswers_RedeliveredThenDeadLetteredWithReason()
    {
        // Its own broker with a 2 s answer timeout: the shared one waits longer so that slow answers are not redelivered.
        await using var shortTimeout = await BrokerFixture.StartAsync(CommandBrokerFixture.ShortAnswerTimeoutArgs);
        using var api = new CommandApi(shortTimeout.HttpBaseUri);
        var deviceId = Ids.Client("cmd-mute");
        await using var device = await TestClient.ConnectAsync(shortTimeout, deviceId);
        await device.SubscribeAsync($"devices/{deviceId}/commands/#");
        var (_, sent, _) = await api.PostAsync(deviceId, "ping", "{}");
        var commandId = sent.GetProperty("commandId").GetString()!;

        for (int delivery = 1; delivery <= 3; delivery++)
        {
            var command = await device.ReceiveAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(commandId, CommandIdOf(command));
        }

        var dead = await api.WaitForStatusAsync(commandId, "DeadLettered", TimeSpan.FromSeconds(30));
        Assert.Equal("MaxDeliveryCountExceeded", dead.GetProperty("deadLetterReason").GetString());
        Assert.Equal(3, dead.GetProperty("deliveryCount").GetInt32());
    }

    [Fact]
    public async Task DeviceDisconnectsMidCommand_GetsItAgainOnReconnect()
    {
        var deviceId = Ids.Client("cmd-drop");
        var (_, sent, _) = await _api.PostAsync(deviceId, "update", "{}");
        var commandId = sent.GetProperty("commandId").GetString()!;

        // A device that receives the command but goes away before its PUBACK.
        using (var unreliable = new MqttClientFactory().CreateMqttClient())
        {
            var received = Channel.CreateUnbounded<string>();
            unreliable.ApplicationMessageReceivedAsync += e =>
            {
                e.AutoAcknowledge = false;
                received.Writer.TryWrite(e.ApplicationMessage.Topic);
                return Task.CompletedTask;
            };
            await unreliable.ConnectAsync(broker.CreateMqttClientOptions(deviceId));
            await unreliable.SubscribeAsync($"devices/{deviceId}/commands/#", MqttQualityOfServiceLevel.AtLeastOnce);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
            Assert.EndsWith(commandId, await received.Reader.ReadAsync(timeout.Token), StringComparison.Ordinal);
            await unreliable.DisconnectAsync();
        }

        await using var device = await ConnectDeviceAsync(deviceId);
        var again = await device.ReceiveAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(commandId, CommandIdOf(again));
        await device.PublishAsync(again.ResponseTopic, "{}");
        var done = await _api.WaitForStatusAsync(commandId, "Completed", TimeSpan.FromSeconds(10));
        Assert.Equal(2, done.GetProperty("deliveryCount").GetInt32());
    }

    [Fact]
    public async Task CommandsToOneDevice_ArriveInOrder()
    {
        var deviceId = Ids.Client("cmd-order");
        var ids = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            ids.Add((await _api.PostAsync(deviceId, "step", $$"""{"i":{{i}}}""")).Body.GetProperty("commandId").GetString()!);
        }

        await using var device = await ConnectDeviceAsync(deviceId);
        foreach (var id in ids)
        {
            var command = await device.ReceiveAsync(TimeSpan.FromSeconds(15));
            Assert.Equal(id, CommandIdOf(command));
            await device.PublishAsync(command.ResponseTopic, "{}");
        }

        await _api.WaitForStatusAsync(ids[^1], "Completed", TimeSpan.FromSeconds(10));
    }
}
