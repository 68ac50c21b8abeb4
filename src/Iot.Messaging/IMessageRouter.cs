namespace Iot.Messaging;

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
