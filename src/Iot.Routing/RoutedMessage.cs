namespace Iot.Routing;

/// <summary>
/// A message entering the routing layer, independent of the protocol it came in on (MQTT publish, HTTP).
/// The routing layer must not keep references to <see cref="Payload"/> beyond the call unless it copies it.
/// </summary>
public sealed class RoutedMessage
{
    /// <summary>The MQTT topic (the CloudEvents subject).</summary>
    public required string Topic { get; init; }

    /// <summary>The payload bytes.</summary>
    public required ReadOnlyMemory<byte> Payload { get; init; }

    /// <summary>QoS the publisher used: 0 fire-and-forget, 1 or 2 when the publisher waits for durability.</summary>
    public byte QualityOfService { get; init; }

    /// <summary>MQTT 5 content type, when given.</summary>
    public string? ContentType { get; init; }

    /// <summary>MQTT 5 user properties in order (names may repeat); empty when none.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> UserProperties { get; init; } = [];

    /// <summary>MQTT client id of the publisher; null for messages injected by the platform.</summary>
    public string? SourceClientId { get; init; }

    /// <summary>When the broker accepted the message.</summary>
    public DateTimeOffset ReceivedAt { get; init; }
}

/// <summary>
/// The routing layer's entry point: every accepted message is offered to it once. Matching is synchronous; the
/// returned task completes when every destination that promises durability (queues, streams, pending webhook
/// deliveries) has recorded the message, so the broker acknowledges a QoS 1/2 publish only after it.
/// </summary>
public interface IMessageRouter
{
    /// <summary>Routes <paramref name="message"/>; returns a completed task when nothing durable was involved.</summary>
    Task RouteAsync(RoutedMessage message);
}

/// <summary>Lets the routing layer publish into the MQTT broker (deliveries to MQTT topics, commands to devices).</summary>
public interface IMqttPublisher
{
    /// <summary>Publishes as the platform itself (no publisher client id); completes when durable writes committed.</summary>
    Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, byte qualityOfService, bool retain,
        IReadOnlyList<KeyValuePair<string, string>>? userProperties = null, string? contentType = null,
        CancellationToken cancellationToken = default);
}
