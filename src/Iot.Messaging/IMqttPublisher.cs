namespace Iot.Messaging;

/// <summary>
/// Publishes into the MQTT broker from inside the platform (route deliveries to MQTT topics, commands to devices,
/// aggregate results). The broker implements it; Routing and Streams use it without referencing the broker.
/// </summary>
public interface IMqttPublisher
{
    /// <summary>Publishes as the platform itself (no publisher client id); completes when durable writes committed.</summary>
    Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, byte qualityOfService, bool retain,
        IReadOnlyList<KeyValuePair<string, string>>? userProperties = null, string? contentType = null,
        CancellationToken cancellationToken = default);
}
