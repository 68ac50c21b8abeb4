using System.Buffers;
using System.Text;
using System.Threading.Channels;
using Iot.TestUtilities;
using MQTTnet;

namespace Iot.Cli.Tests;

/// <summary>
/// A real MQTT device (MQTTnet, MQTT 5, its own identity's password) subscribed to its command topics, answering each
/// command on <c>devices/{id}/responses/{commandId}</c> with <c>{"ok":true,"command":"{name}","payload":...}</c> (the
/// command <c>fail</c> with <c>{"status":"failed"}</c>), or staying silent.
/// Answers are published from their own loop: publishing inside MQTTnet's receive handler would wait on the loop that
/// reads the acknowledgement.
/// </summary>
internal sealed class AnsweringDevice : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly Channel<MqttApplicationMessage> _commands = Channel.CreateUnbounded<MqttApplicationMessage>();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _answering;
    private readonly string _deviceId;

    private AnsweringDevice(IMqttClient client, string deviceId, bool answer)
    {
        _client = client;
        _deviceId = deviceId;
        _client.ApplicationMessageReceivedAsync += e =>
        {
            _commands.Writer.TryWrite(e.ApplicationMessage);
            return Task.CompletedTask;
        };
        _answering = answer ? AnswerAsync(_stop.Token) : Task.CompletedTask;
    }

    /// <summary>Connects as <paramref name="deviceId"/> with <paramref name="password"/> and subscribes to its commands.</summary>
    public static async Task<AnsweringDevice> ConnectAsync(BrokerFixture broker, string deviceId, string password, bool answer = true)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var device = new AnsweringDevice(client, deviceId, answer);
        try
        {
            var options = broker.CreateMqttClientOptionsBuilder(deviceId).WithCredentials(deviceId, password).Build();
            var connected = await client.ConnectAsync(options);
            Assert.Equal(MqttClientConnectResultCode.Success, connected.ResultCode);
            await client.SubscribeAsync($"devices/{deviceId}/commands/#", MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce);
            return device;
        }
        catch
        {
            await device.DisposeAsync();
            throw;
        }
    }

    /// <summary>Publishes a telemetry message at QoS 1 (acknowledged once it is durable in the telemetry stream).</summary>
    public Task PublishTelemetryAsync(string json) =>
        _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{_deviceId}/telemetry").WithPayload(json)
            .WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce).Build());

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _answering;
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }

        if (_client.IsConnected)
        {
            await _client.DisconnectAsync();
        }

        _client.Dispose();
        _stop.Dispose();
    }

    private async Task AnswerAsync(CancellationToken cancellationToken)
    {
        await foreach (var command in _commands.Reader.ReadAllAsync(cancellationToken))
        {
            // devices/{id}/commands/{name}/{commandId}
            var levels = command.Topic.Split('/');
            var answer = Encoding.UTF8.GetBytes(levels[3] == "fail"
                ? """{"status":"failed","error":"asked to fail"}"""
                : $$"""{"ok":true,"command":"{{levels[3]}}","payload":{{(command.Payload.Length == 0 ? "null" : Encoding.UTF8.GetString(command.Payload.ToArray()))}}}""");
            await _client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{_deviceId}/responses/{levels[4]}").WithPayload(answer)
                .WithQualityOfServiceLevel(MQTTnet.Protocol.MqttQualityOfServiceLevel.AtLeastOnce).Build(), cancellationToken);
        }
    }
}
