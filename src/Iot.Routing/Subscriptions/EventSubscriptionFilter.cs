using Iot.Routing.Rules;

namespace Iot.Routing.Subscriptions;

/// <summary>A subscription's filter: topic filter on the subject, event types, and conditions (all must hold).</summary>
internal sealed class EventSubscriptionFilter
{
    /// <summary>MQTT topic filter on the subject (the MQTT topic); default <c>#</c>.</summary>
    public string TopicFilter { get; set; } = "#";

    /// <summary>Event types to include (case-insensitive); null or empty for all.</summary>
    public List<string>? IncludedEventTypes { get; set; }

    /// <summary>Advanced conditions (see <see cref="EventCondition"/>).</summary>
    public List<EventCondition>? Conditions { get; set; }
}
