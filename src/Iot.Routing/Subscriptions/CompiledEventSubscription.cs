using Iot.Routing.Rules;

namespace Iot.Routing.Subscriptions;

/// <summary>A subscription ready for matching.</summary>
internal sealed class CompiledEventSubscription(EventSubscriptionDefinition definition, CompiledCondition[] conditions)
{
    public EventSubscriptionDefinition Definition { get; } = definition;

    public string Name => Definition.Name;

    public EventDeliveryKind Kind => Definition.Destination.Kind;

    /// <summary>Whether the event passes the type and condition filters (the topic filter is matched by the tree).</summary>
    public bool Matches(RoutedEvent routedEvent)
    {
        if (Definition.Filter.IncludedEventTypes is { Count: > 0 } types
            && !types.Contains(routedEvent.Type, StringComparer.OrdinalIgnoreCase))
        {
            return false;
        }

        foreach (var condition in conditions)
        {
            if (!condition.Evaluate(routedEvent))
            {
                return false;
            }
        }

        return true;
    }
}
