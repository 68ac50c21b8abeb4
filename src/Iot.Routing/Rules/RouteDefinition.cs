using Iot.Routing.Subscriptions;

namespace Iot.Routing.Rules;

/// <summary>
/// A route: messages whose topic matches <see cref="Source"/> and that meet every condition go to <see cref="Destination"/>.
/// JSON: <c>{"name":"hot","source":"devices/+/telemetry","conditions":[...],"destination":{"kind":"eventSubscription"}}</c>.
/// </summary>
internal sealed class RouteDefinition
{
    /// <summary>Unique name: 1-128 of letters, digits, <c>-</c>, <c>_</c>, <c>.</c>.</summary>
    public string Name { get; set; } = "";

    /// <summary>MQTT topic filter matched against the topic (or a posted event's subject); default <c>#</c>.</summary>
    public string Source { get; set; } = "#";

    /// <summary>Conditions, all of which must hold (see <see cref="EventCondition"/>).</summary>
    public List<EventCondition>? Conditions { get; set; }

    /// <summary>Where matching messages go.</summary>
    public RouteTarget Destination { get; set; } = new();

    /// <summary>A disabled route is kept but matches nothing; default true.</summary>
    public bool Enabled { get; set; } = true;
}

/// <summary>A route's destination.</summary>
internal sealed class RouteTarget
{
    /// <summary>
    /// The destination kind: the <see cref="Iot.Messaging.IRouteDestination.Kind"/> of a registered destination
    /// (<c>eventSubscription</c>, <c>commandQueue</c>, <c>stream</c>; ignoring case); default <c>eventSubscription</c>.
    /// </summary>
    public string Kind { get; set; } = EventSubscriptionDestination.DestinationKind;

    /// <summary>The destination's name; for event subscriptions null means every subscription (each applies its filter).</summary>
    public string? Name { get; set; }
}
