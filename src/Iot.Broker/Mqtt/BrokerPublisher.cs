using System.Text;
using Iot.Messaging;
using MQTTnet.Packets;

namespace Iot.Broker.Mqtt;

/// <summary>Publishes into the broker on behalf of the platform (routing deliveries, commands to devices).</summary>
internal sealed class BrokerPublisher(MessageDispatcher dispatcher, BrokerContext context) : IMqttPublisher
{
    public Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, byte qualityOfService, bool retain,
        IReadOnlyList<KeyValuePair<string, string>>? userProperties = null, string? contentType = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(topic);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(qualityOfService, (byte)2);
        cancellationToken.ThrowIfCancellationRequested();
        List<MqttUserProperty>? properties = null;
        if (userProperties is { Count: > 0 })
        {
            properties = new List<MqttUserProperty>(userProperties.Count);
            foreach (var (name, value) in userProperties)
            {
                properties.Add(new MqttUserProperty(name, Encoding.UTF8.GetBytes(value).AsMemory()));
            }
        }

        var now = context.NowUnixMs;
        return dispatcher.PublishAsync(new BrokerMessage
        {
            Topic = topic,
            Payload = payload,
            QualityOfService = qualityOfService,
            Retain = retain,
            ContentType = contentType,
            UserProperties = properties,
            ReceivedAtUnixMs = now,
        }, publisherClientId: null);
    }
}
