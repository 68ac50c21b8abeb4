namespace Iot.Routing.Internal;

/// <summary>A delivery to record: one event for one subscription.</summary>
internal readonly record struct PendingDelivery(string Subscription, string EventId, ReadOnlyMemory<byte> Event, long EnqueuedAt, long ExpiresAt);
