using System.Threading.Channels;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>An MQTTnet client that records every message it receives, for tests.</summary>
internal sealed class TestClient : IAsyncDisposable
{
    private readonly Channel<MqttApplicationMessage> _received = Channel.CreateUnbounded<MqttApplicationMessage>();

    private TestClient(IMqttClient client)
    {
        Client = client;
        client.ApplicationMessageReceivedAsync += e =>
        {
            _received.Writer.TryWrite(e.ApplicationMessage);
            return Task.CompletedTask;
        };
    }

    public IMqttClient Client { get; }

    public MqttClientConnectResult? ConnectResult { get; private set; }

    public static async Task<TestClient> ConnectAsync(BrokerFixture broker, string clientId, Action<MqttClientOptionsBuilder>? configure = null, MqttProtocolVersion version = MqttProtocolVersion.V500)
    {
        var builder = broker.CreateMqttClientOptionsBuilder(clientId, version);
        configure?.Invoke(builder);
        var client = new TestClient(new MqttClientFactory().CreateMqttClient());
        client.ConnectResult = await client.Client.ConnectAsync(builder.Build());
        return client;
    }

    public Task SubscribeAsync(string filter, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtLeastOnce, Action<MqttTopicFilterBuilder>? configure = null, uint subscriptionId = 0)
    {
        var topicFilter = new MqttTopicFilterBuilder().WithTopic(filter).WithQualityOfServiceLevel(qos);
        configure?.Invoke(topicFilter);
        var options = new MqttClientSubscribeOptionsBuilder().WithTopicFilter(topicFilter.Build());
        if (subscriptionId != 0)
        {
            options.WithSubscriptionIdentifier(subscriptionId);
        }

        return Client.SubscribeAsync(options.Build());
    }

    public Task<MqttClientPublishResult> PublishAsync(string topic, string payload, MqttQualityOfServiceLevel qos = MqttQualityOfServiceLevel.AtLeastOnce, bool retain = false, Action<MqttApplicationMessageBuilder>? configure = null)
    {
        var builder = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(qos).WithRetainFlag(retain);
        configure?.Invoke(builder);
        return Client.PublishAsync(builder.Build());
    }

    /// <summary>The next received message; fails the test when none arrives in time.</summary>
    public async Task<MqttApplicationMessage> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        try
        {
            return await _received.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("no message received in time");
        }
    }

    /// <summary>True when no message arrives within <paramref name="window"/> (used after a positive control message).</summary>
    public async Task<MqttApplicationMessage?> TryReceiveAsync(TimeSpan window)
    {
        using var cts = new CancellationTokenSource(window);
        try
        {
            return await _received.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    public int Pending => _received.Reader.Count;

    public async ValueTask DisposeAsync()
    {
        if (Client.IsConnected)
        {
            try
            {
                await Client.DisconnectAsync();
            }
            catch (MQTTnet.Exceptions.MqttCommunicationException)
            {
                // Already gone.
            }
        }

        Client.Dispose();
    }
}
