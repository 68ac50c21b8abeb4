namespace Iot.Messaging;

/// <summary>
/// A routed message as a route destination sees it: the message with the event attributes the router gave it.
/// Valid only during <see cref="IRouteDestination.DeliverAsync"/>: the router reuses the instance for the next message,
/// so a destination copies what it keeps (the payload in particular) before it returns.
/// </summary>
/// <remarks>
/// The type and source follow the topic convention in docs/api.md (<c>iot.device.telemetry</c>,
/// <c>/iot/devices/{id}</c>); the id is made on first read, so a destination that does not need it costs nothing.
/// </remarks>
public interface IRoutedEvent
{
    /// <summary>The MQTT topic, or the subject of an event posted to the HTTP API (<c>events</c> when it has none).</summary>
    string Topic { get; }

    /// <summary>The event id: unique per message (a UUID v7 of <see cref="Time"/> for MQTT messages).</summary>
    string Id { get; }

    /// <summary>The event type, e.g. <c>iot.device.telemetry</c>.</summary>
    string Type { get; }

    /// <summary>The event source, e.g. <c>/iot/devices/d1</c>.</summary>
    string Source { get; }

    /// <summary>When the broker accepted the message (or the posted event's time).</summary>
    DateTimeOffset Time { get; }

    /// <summary>The content type of the payload, when known.</summary>
    string? ContentType { get; }

    /// <summary>The MQTT payload; empty for events posted to the HTTP API, whose data is not an MQTT payload.</summary>
    ReadOnlyMemory<byte> Payload { get; }

    /// <summary>MQTT 5 user properties in order (names may repeat); empty when none.</summary>
    IReadOnlyList<KeyValuePair<string, string>> UserProperties { get; }
}
