namespace Iot.Routing.Hosting;

/// <summary>Counters of the routing layer, updated lock-free and rendered by the broker's <c>/metrics</c>.</summary>
public sealed class RoutingMetrics
{
    private static readonly RoutingCounter[] All = Enum.GetValues<RoutingCounter>();
    private readonly long[] _counters = new long[All.Length];

    /// <summary>A counter's value.</summary>
    public long Read(RoutingCounter counter) => Interlocked.Read(ref _counters[(int)counter]);

    /// <summary>Every counter by its Prometheus name.</summary>
    public IReadOnlyList<KeyValuePair<string, long>> Snapshot() => [.. All.Select(c => new KeyValuePair<string, long>(NameOf(c), Read(c)))];

    /// <summary>The Prometheus name of <paramref name="counter"/>.</summary>
    public static string NameOf(RoutingCounter counter) => counter switch
    {
        RoutingCounter.MessagesRouted => "iot_routing_messages_routed_total",
        RoutingCounter.MessagesUnrouted => "iot_routing_messages_unrouted_total",
        RoutingCounter.EventsPosted => "iot_routing_events_posted_total",
        RoutingCounter.EventsUnmatched => "iot_routing_events_unmatched_total",
        RoutingCounter.DeliveriesEnqueued => "iot_routing_deliveries_enqueued_total",
        RoutingCounter.DeliveriesSucceeded => "iot_routing_deliveries_succeeded_total",
        RoutingCounter.DeliveryAttemptsFailed => "iot_routing_delivery_attempts_failed_total",
        RoutingCounter.DeadLettered => "iot_routing_dead_lettered_total",
        RoutingCounter.Dropped => "iot_routing_dropped_total",
        RoutingCounter.MqttDeliveries => "iot_routing_mqtt_deliveries_total",
        RoutingCounter.PullReceived => "iot_routing_pull_received_total",
        RoutingCounter.CommandsSent => "iot_commands_sent_total",
        RoutingCounter.CommandsDelivered => "iot_commands_delivered_total",
        RoutingCounter.CommandsAnswered => "iot_commands_answered_total",
        RoutingCounter.CommandsDeadLettered => "iot_commands_dead_lettered_total",
        RoutingCounter.SubscriptionFullDropped => "iot_routing_subscription_full_dropped_total",
        RoutingCounter.WebhookDestinationsRefused => "iot_routing_webhook_destinations_refused_total",
        RoutingCounter.DestinationsForbidden => "iot_routing_destinations_refused_total",
        RoutingCounter.DeadLettersEvicted => "iot_routing_dead_letters_evicted_total",
        _ => throw new ArgumentOutOfRangeException(nameof(counter)),
    };

    internal void Add(RoutingCounter counter, long count = 1) => Interlocked.Add(ref _counters[(int)counter], count);
}
