namespace Iot.Routing;

/// <summary>
/// A message entering the routing layer, independent of the protocol it came in on (MQTT publish, HTTP). The broker
/// hands its own message object, which implements this, so that routing a publish allocates no copy of it.
/// The routing layer must not keep references to <see cref="Payload"/> beyond the call unless it copies it.
/// </summary>
public interface IRoutedMessage
{
    /// <summary>The MQTT topic (the CloudEvents subject).</summary>
    string Topic { get; }

    /// <summary>The payload bytes.</summary>
    ReadOnlyMemory<byte> Payload { get; }

    /// <summary>QoS the publisher used: 0 fire-and-forget, 1 or 2 when the publisher waits for durability.</summary>
    byte QualityOfService { get; }

    /// <summary>MQTT 5 content type, when given.</summary>
    string? ContentType { get; }

    /// <summary>MQTT 5 user properties in order (names may repeat); empty when none.</summary>
    IReadOnlyList<KeyValuePair<string, string>> UserProperties { get; }

    /// <summary>MQTT client id of the publisher; null for messages injected by the platform.</summary>
    string? SourceClientId { get; }

    /// <summary>When the broker accepted the message; <c>default</c> when unknown (routing then uses the current time).</summary>
    DateTimeOffset ReceivedAt { get; }
}

/// <summary>An <see cref="IRoutedMessage"/> built from its parts (tests, benchmarks, messages that are not MQTT publishes).</summary>
public sealed class RoutedMessage : IRoutedMessage
{
    /// <inheritdoc/>
    public required string Topic { get; init; }

    /// <inheritdoc/>
    public required ReadOnlyMemory<byte> Payload { get; init; }

    /// <inheritdoc/>
    public byte QualityOfService { get; init; }

    /// <inheritdoc/>
    public string? ContentType { get; init; }

    /// <inheritdoc/>
    public IReadOnlyList<KeyValuePair<string, string>> UserProperties { get; init; } = [];

    /// <inheritdoc/>
    public string? SourceClientId { get; init; }

    /// <inheritdoc/>
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
    Task RouteAsync(IRoutedMessage message);
}

/// <summary>Lets the routing layer publish into the MQTT broker (deliveries to MQTT topics, commands to devices).</summary>
public interface IMqttPublisher
{
    /// <summary>Publishes as the platform itself (no publisher client id); completes when durable writes committed.</summary>
    Task PublishAsync(string topic, ReadOnlyMemory<byte> payload, byte qualityOfService, bool retain,
        IReadOnlyList<KeyValuePair<string, string>>? userProperties = null, string? contentType = null,
        CancellationToken cancellationToken = default);
}
