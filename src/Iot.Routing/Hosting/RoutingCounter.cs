namespace Iot.Routing.Hosting;

/// <summary>The routing layer's counters (<see cref="RoutingMetrics.Add"/>); each is named once in <see cref="RoutingMetrics.NameOf"/>.</summary>
public enum RoutingCounter
{
    /// <summary>Rendered as <c>iot_routing_messages_routed_total</c> (docs/api.md).</summary>
    MessagesRouted,

    /// <summary>Rendered as <c>iot_routing_messages_unrouted_total</c> (docs/api.md).</summary>
    MessagesUnrouted,

    /// <summary>Rendered as <c>iot_routing_events_posted_total</c> (docs/api.md).</summary>
    EventsPosted,

    /// <summary>Rendered as <c>iot_routing_events_unmatched_total</c> (docs/api.md).</summary>
    EventsUnmatched,

    /// <summary>Rendered as <c>iot_routing_deliveries_enqueued_total</c> (docs/api.md).</summary>
    DeliveriesEnqueued,

    /// <summary>Rendered as <c>iot_routing_deliveries_succeeded_total</c> (docs/api.md).</summary>
    DeliveriesSucceeded,

    /// <summary>Rendered as <c>iot_routing_delivery_attempts_failed_total</c> (docs/api.md).</summary>
    DeliveryAttemptsFailed,

    /// <summary>Rendered as <c>iot_routing_dead_lettered_total</c> (docs/api.md).</summary>
    DeadLettered,

    /// <summary>Rendered as <c>iot_routing_dropped_total</c> (docs/api.md).</summary>
    Dropped,

    /// <summary>Rendered as <c>iot_routing_mqtt_deliveries_total</c> (docs/api.md).</summary>
    MqttDeliveries,

    /// <summary>Rendered as <c>iot_routing_pull_received_total</c> (docs/api.md).</summary>
    PullReceived,

    /// <summary>Rendered as <c>iot_commands_sent_total</c> (docs/api.md).</summary>
    CommandsSent,

    /// <summary>Rendered as <c>iot_commands_delivered_total</c> (docs/api.md).</summary>
    CommandsDelivered,

    /// <summary>Rendered as <c>iot_commands_answered_total</c> (docs/api.md).</summary>
    CommandsAnswered,

    /// <summary>Rendered as <c>iot_commands_dead_lettered_total</c> (docs/api.md).</summary>
    CommandsDeadLettered,

    /// <summary>Rendered as <c>iot_routing_subscription_full_dropped_total</c> (docs/api.md).</summary>
    SubscriptionFullDropped,

    /// <summary>Rendered as <c>iot_routing_webhook_destinations_refused_total</c> (docs/api.md).</summary>
    WebhookDestinationsRefused,

    /// <summary>Rendered as <c>iot_routing_destinations_refused_total</c> (docs/api.md).</summary>
    DestinationsForbidden,

    /// <summary>Rendered as <c>iot_routing_dead_letters_evicted_total</c> (docs/api.md).</summary>
    DeadLettersEvicted,

    /// <summary>Rendered as <c>iot_crossover_events_raised_total</c>: crossover events queued for routing (docs/api.md).</summary>
    CrossoverRaised,

    /// <summary>Rendered as <c>iot_crossover_events_dropped_total</c>: crossover events dropped because the queue was full or the publisher stopped.</summary>
    CrossoverDropped,

    /// <summary>Rendered as <c>iot_crossover_events_published_total</c>: crossover events routed (recorded by their destinations).</summary>
    CrossoverPublished,

    /// <summary>Rendered as <c>iot_crossover_events_failed_total</c>: crossover events whose routing failed (a destination's write failed).</summary>
    CrossoverFailed,
}
