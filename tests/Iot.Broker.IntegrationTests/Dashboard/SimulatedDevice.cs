using System.Globalization;
using System.Text;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Dashboard;

/// <summary>
/// A device for the dashboard tests (the real simulator lives in devices/simulator): publishes telemetry
/// <c>{"ts","temperature","humidity","battery"}</c> every <c>interval</c> with values that move, and answers every
/// command on <c>devices/{id}/responses/{commandId}</c> with <c>{"status":"ok","command":name,"device":id}</c>.
/// </summary>
internal sealed class SimulatedDevice : IAsyncDisposable
{
    private readonly IMqttClient _client;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _publishing;
    private int _answered;

    private SimulatedDevice(IMqttClient client, string deviceId, double baseTemperature, TimeSpan interval)
    {
        _client = client;
        DeviceId = deviceId;
        _publishing = PublishLoopAsync(baseTemperature, interval, _stop.Token);
    }

    public string DeviceId { get; }

    /// <summary>Commands answered so far.</summary>
    public int Answered => Volatile.Read(ref _answered);

    public static async Task<SimulatedDevice> StartAsync(string host, int mqttPort, string deviceId, double baseTemperature, TimeSpan interval)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        SimulatedDevice? device = null;
        client.ApplicationMessageReceivedAsync += e => device!.AnswerAsync(e.ApplicationMessage);
        await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(host, mqttPort)
            .WithClientId(deviceId)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            // Generous: the test machine may be busy, and a slow CONNACK is no dashboard failure.
            .WithTimeout(TimeSpan.FromSeconds(30))
            .Build());
        device = new SimulatedDevice(client, deviceId, baseTemperature, interval);
        await client.SubscribeAsync($"devices/{deviceId}/commands/#", MqttQualityOfServiceLevel.AtLeastOnce);
        return device;
    }

    private async Task AnswerAsync(MqttApplicationMessage command)
    {
        var levels = command.Topic.Split('/');
        if (levels.Length != 5)
        {
            return;
        }

        var answer = $$"""{"status":"ok","command":"{{levels[3]}}","device":"{{DeviceId}}","pong":true}""";
        var topic = command.ResponseTopic ?? $"devices/{DeviceId}/responses/{levels[4]}";
        await _client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(topic)
            .WithPayload(Encoding.UTF8.GetBytes(answer))
            .WithCorrelationData(command.CorrelationData)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());
        Interlocked.Increment(ref _answered);
    }

    private async Task PublishLoopAsync(double baseTemperature, TimeSpan interval, CancellationToken cancellationToken)
    {
        var i = 0;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                i++;
                var ts = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                var temperature = baseTemperature + (2 * Math.Sin(i / 7.0));
                var payload = string.Create(CultureInfo.InvariantCulture,
                    $$"""{"ts":{{ts}},"temperature":{{temperature:0.00}},"humidity":{{45 + (i % 10)}},"battery":{{100 - (i * 0.01):0.00}}}""");
                // QoS 0, as telemetry usually is: the loop never waits for the stream's durable acknowledgement.
                await _client.PublishAsync(new MqttApplicationMessageBuilder()
                    .WithTopic($"devices/{DeviceId}/telemetry")
                    .WithPayload(Encoding.UTF8.GetBytes(payload))
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtMostOnce)
                    .Build(), cancellationToken);
                await Task.Delay(interval, cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopped.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _publishing;
        if (_client.IsConnected)
        {
            await _client.DisconnectAsync();
        }

        _client.Dispose();
        _stop.Dispose();
    }
}
