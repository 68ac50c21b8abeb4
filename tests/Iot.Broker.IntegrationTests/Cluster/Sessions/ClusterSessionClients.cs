using System.Collections.Concurrent;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Cluster.Sessions;

/// <summary>MQTTnet clients for the cluster session tests: a persistent subscriber that records what it gets, and a publisher loop.</summary>
internal static class ClusterSessionClients
{
    /// <summary>
    /// Publishes <paramref name="payloads"/> in order on <paramref name="topic"/> through a new clean connection to
    /// <paramref name="broker"/>, each after the previous one's acknowledgement, then disconnects.
    /// </summary>
    public static async Task PublishAsync(BrokerProcess broker, string topic, MqttQualityOfServiceLevel qos, params string[] payloads)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(Options(broker, TestIds.ClientId("cspub"), cleanStart: true, expiry: 0));
        foreach (var payload in payloads)
        {
            var result = await client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(qos).Build());
            Assert.True(result.IsSuccess, $"publish {payload}: {result.ReasonCode}");
        }

        await client.DisconnectAsync();
    }

    public static MqttClientOptions Options(BrokerProcess broker, string clientId, bool cleanStart, uint expiry = 3600) =>
        new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", broker.MqttPort)
            .WithClientId(clientId)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart(cleanStart)
            .WithSessionExpiryInterval(expiry)
            .WithTimeout(TimeSpan.FromSeconds(15))
            .Build();

    /// <summary>A client that records every PUBLISH it gets (payload as text) in arrival order.</summary>
    public static IMqttClient Recording(ConcurrentQueue<(string Topic, string Payload)> received)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        client.ApplicationMessageReceivedAsync += e =>
        {
            received.Enqueue((e.ApplicationMessage.Topic, e.ApplicationMessage.ConvertPayloadToString()));
            return Task.CompletedTask;
        };
        return client;
    }

    public static Task SubscribeAsync(IMqttClient client, string filter) =>
        client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(f => f.WithTopic(filter).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)).Build());

    /// <summary>
    /// Publishes <paramref name="count"/> QoS 1 messages <c>topic:i</c> on <paramref name="topic"/> in order, each after the
    /// previous one's PUBACK; a failed publish (the broker closed the connection: no acknowledgement) is sent again on a
    /// new connection. Adds each acknowledged payload to <paramref name="acknowledged"/> with the time of its PUBACK.
    /// </summary>
    public static async Task PublishInOrderAsync(
        Func<BrokerProcess> broker, string topic, int count, ConcurrentDictionary<string, DateTime> acknowledged, CancellationToken cancellationToken)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        try
        {
            for (var i = 0; i < count;)
            {
                cancellationToken.ThrowIfCancellationRequested();
                try
                {
                    if (!client.IsConnected)
                    {
                        await client.ConnectAsync(Options(broker(), TestIds.ClientId("pub"), cleanStart: true, expiry: 0), cancellationToken);
                    }

                    var payload = topic + ":" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                    var result = await client.PublishAsync(new MqttApplicationMessageBuilder()
                        .WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build(), cancellationToken);
                    if (result.IsSuccess)
                    {
                        acknowledged[payload] = DateTime.UtcNow;
                        i++;
                    }
                }
                catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or InvalidOperationException
                                               && !cancellationToken.IsCancellationRequested)
                {
                    // Not acknowledged: sent again on a new connection, as a device does.
                    await Task.Delay(100, cancellationToken);
                }
            }
        }
        finally
        {
            client.Dispose();
        }
    }

    /// <summary>Per topic, the ids in the order they first arrived: must be increasing (duplicates of a redelivery allowed).</summary>
    public static string? FirstOutOfOrder(IEnumerable<(string Topic, string Payload)> received)
    {
        var last = new Dictionary<string, int>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (topic, payload) in received)
        {
            if (!seen.Add(payload) || payload.LastIndexOf(':') is var colon && colon < 0)
            {
                continue;
            }

            var id = int.Parse(payload.AsSpan(colon + 1), System.Globalization.CultureInfo.InvariantCulture);
            if (last.TryGetValue(topic, out var previous) && id <= previous)
            {
                return $"{topic}: {id} arrived (first time) after {previous}";
            }

            last[topic] = id;
        }

        return null;
    }
}
