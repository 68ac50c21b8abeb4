namespace Iot.Messaging;

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
