namespace Iot.Messaging;

/// <summary>
/// A kind of route destination, registered as a service by the project that owns it (event subscriptions and queues
/// in Routing, streams in Streams). A route names it by <see cref="Kind"/> (<c>"destination":{"kind":"stream",
/// "name":"telemetry"}</c>); the router resolves that name once, when the route is compiled, and a route naming a kind
/// no destination serves is refused with a clear error.
/// </summary>
/// <remarks>
/// The router calls <see cref="DeliverAsync"/> once per message for all matched routes of this kind, with their
/// distinct target names. The destination reads the event synchronously (it is reused for the next message once the
/// call returns) and returns a task that completes when the message is durably recorded, so the publisher's
/// acknowledgement waits for it. It must not block: routing runs on the publisher's receive path.
/// </remarks>
public interface IRouteDestination
{
    /// <summary>
    /// The name routes use in <c>destination.kind</c>, unique among the destinations (compared ignoring case), e.g.
    /// <c>eventSubscription</c>, <c>commandQueue</c>, <c>stream</c>. Stored routes refer to it: never rename one.
    /// </summary>
    string Kind { get; }

    /// <summary>Whether <paramref name="name"/> is a valid target (null means "all" where the kind supports it).</summary>
    bool IsValidTarget(string? name);

    /// <summary>Delivers one message to the named targets (distinct; null means "all").</summary>
    /// <param name="routedEvent">The message as an event; valid only during the call.</param>
    /// <param name="targets">The distinct target names of the matched routes; valid only during the call.</param>
    Task DeliverAsync(IRoutedEvent routedEvent, IReadOnlyList<string?> targets);
}
