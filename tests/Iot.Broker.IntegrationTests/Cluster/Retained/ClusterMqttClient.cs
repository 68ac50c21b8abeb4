using System.Threading.Channels;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Cluster.Retained;

/// <summary>An MQTT 5 client (MQTTnet) of one cluster node that records the retained messages it receives.</summary>
internal sealed class ClusterMqttClient : IAsyncDisposable
{
    private readonly Channel<MqttApplicationMessage> _retained = Channel.CreateUnbounded<MqttApplicationMessage>();
    private readonly IMqttClient _client;

    private ClusterMqttClient(IMqttClient client)
    {
        _client = client;
        client.ApplicationMessageReceivedAsync += e =>
        {
            // Live copies (RETAIN clear) are not what these tests look at.
            if (e.ApplicationMessage.Retain)
            {
                _retained.Writer.TryWrite(e.ApplicationMessage);
            }

            return Task.CompletedTask;
        };
    }

    public static async Task<ClusterMqttClient> ConnectAsync(int port, string prefix)
    {
        var client = new ClusterMqttClient(new MqttClientFactory().CreateMqttClient());
        var result = await client._client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, port)
            .WithClientId(TestIds.ClientId(prefix))
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart()
            .WithTimeout(TimeSpan.FromSeconds(15))
            .Build());
        Assert.Equal(MqttClientConnectResultCode.Success, result.ResultCode);
        return client;
    }

    /// <summary>Publishes a retained message with QoS 1 and returns once the broker acknowledged it (PUBACK success).</summary>
    public async Task PublishRetainedAsync(string topic, string payload)
    {
        var result = await _client.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag().Build());
        Assert.True(result.IsSuccess, $"PUBACK {result.ReasonCode} for {topic}");
    }

    /// <summary>SUBSCRIBE (QoS 1, retained messages sent on every subscribe); the SUBACK's reason code.</summary>
    public async Task<MqttClientSubscribeResultCode> SubscribeAsync(string filter)
    {
        var result = await _client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(filter).WithAtLeastOnceQoS().WithRetainHandling(MqttRetainHandling.SendAtSubscribe))
            .Build());
        return Assert.Single(result.Items).ResultCode;
    }

    /// <summary>The next retained message; fails when none arrives in time.</summary>
    public async Task<MqttApplicationMessage> ReceiveRetainedAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            return await _retained.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"no retained message within {timeout.TotalSeconds} s");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            try
            {
                await _client.DisconnectAsync();
            }
            catch (MQTTnet.Exceptions.MqttCommunicationException)
            {
                // The node is gone.
            }
        }

        _client.Dispose();
    }
}
