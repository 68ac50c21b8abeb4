namespace Iot.Routing.Rules;

/// <summary>Where a route sends the messages it matches.</summary>
public enum RouteDestinationKind
{
    /// <summary>The event subscriptions (all of them, each applying its own filter, or one named subscription).</summary>
    EventSubscription = 0,

    /// <summary>A durable command queue (named by the route; each matched message becomes a queue message).</summary>
    CommandQueue = 1,

    /// <summary>A partitioned stream.</summary>
    Stream = 2,
}

/// <summary>
/// A kind of route destination. The router calls <see cref="DeliverAsync"/> once per message for all routes of
/// this kind that matched it; the destination must read the event synchronously (its parsed
/// payload is released when the call returns) and return a task that completes when the message is durably recorded.
/// </summary>
public interface IRouteDestination
{
    /// <summary>The kind this destination serves; one destination per kind.</summary>
    RouteDestinationKind Kind { get; }

    /// <summary>Whether <paramref name="name"/> is a valid target (null means "all" where the kind supports it).</summary>
    bool IsValidTarget(string? name);

    /// <summary>Delivers one message to the named targets (distinct; null means "all").</summary>
    /// <param name="routedEvent">The message as an event; valid only during the call.</param>
    /// <param name="targets">The distinct destination names of the matched routes.</param>
    Task DeliverAsync(RoutedEvent routedEvent, IReadOnlyList<string?> targets);
}
