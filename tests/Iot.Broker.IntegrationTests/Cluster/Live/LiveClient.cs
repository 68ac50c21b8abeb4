using System.Collections.Concurrent;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Cluster.Live;

/// <summary>An MQTT 5 MQTTnet client on one node of a cluster that records what it receives.</summary>
internal sealed class LiveClient : IAsyncDisposable
{
    private readonly ConcurrentQueue<MqttApplicationMessage> _received = new();
    private readonly SemaphoreSlim _arrived = new(0);

    private LiveClient(IMqttClient client)
    {
        Client = client;
        client.ApplicationMessageReceivedAsync += e =>
        {
            _received.Enqueue(e.ApplicationMessage);
            _arrived.Release();
            return Task.CompletedTask;
        };
    }

    public IMqttClient Client { get; }

    public IReadOnlyList<MqttApplicationMessage> Received => [.. _received];

    public static async Task<LiveClient> ConnectAsync(int port, string prefix)
    {
        var client = new LiveClient(new MqttClientFactory().CreateMqttClient());
        await client.Client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, port)
            .WithClientId(TestIds.ClientId(prefix))
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithTimeout(TimeSpan.FromSeconds(10))
            .Build());
        return client;
    }

    public async Task SubscribeAsync(string filter, MqttQualityOfServiceLevel qos, uint subscriptionId = 0, Action<MqttTopicFilterBuilder>? configure = null)
    {
        var topicFilter = new MqttTopicFilterBuilder().WithTopic(filter).WithQualityOfServiceLevel(qos);
        configure?.Invoke(topicFilter);
        var options = new MqttClientSubscribeOptionsBuilder().WithTopicFilter(topicFilter.Build());
        if (subscriptionId != 0)
        {
            options.WithSubscriptionIdentifier(subscriptionId);
        }

        var result = await Client.SubscribeAsync(options.Build());
        Assert.All(result.Items, i => Assert.True((int)i.ResultCode <= 2, $"SUBSCRIBE {filter}: {i.ResultCode}"));
    }

    public Task PublishAsync(string topic, string payload, MqttQualityOfServiceLevel qos, bool retain = false, Action<MqttApplicationMessageBuilder>? configure = null)
    {
        var builder = new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(qos).WithRetainFlag(retain);
        configure?.Invoke(builder);
        return Client.PublishAsync(builder.Build());
    }

    /// <summary>Waits until a received message satisfies <paramref name="match"/>; fails the test after <paramref name="timeout"/>.</summary>
    public async Task<MqttApplicationMessage> WaitForAsync(Func<MqttApplicationMessage, bool> match, TimeSpan timeout, string because)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (_received.FirstOrDefault(match) is { } found)
            {
                return found;
            }

            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException($"{because}: not received within {timeout.TotalSeconds} s; got [{string.Join(", ", _received.Select(m => m.Topic))}]");
            }

            await _arrived.WaitAsync(left);
        }
    }

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
        _arrived.Dispose();
    }
}
