namespace Iot.Routing.Hosting;

/// <summary>
/// Counters of the routing layer, for <c>/metrics</c>: read the properties or <see cref="Snapshot"/>, which
/// names each counter as a Prometheus metric.
/// </summary>
public sealed class RoutingMetrics
{
    private long _messagesRouted;
    private long _messagesUnrouted;
    private long _eventsPosted;
    private long _eventsUnmatched;
    private long _deliveriesEnqueued;
    private long _deliveriesSucceeded;
    private long _deliveryAttemptsFailed;
    private long _deadLettered;
    private long _dropped;
    private long _mqttDeliveries;
    private long _pullReceived;
    private long _commandsSent;
    private long _commandsDelivered;
    private long _commandsAnswered;
    private long _commandsDeadLettered;
    private long _subscriptionFullDropped;
    private long _webhookDestinationsRefused;
    private long _destinationsForbidden;
    private long _deadLettersEvicted;

    /// <summary>Messages (MQTT or posted) that at least one route sent somewhere.</summary>
    public long MessagesRouted => Interlocked.Read(ref _messagesRouted);

    /// <summary>Messages that matched no route (topic and conditions): <c>iot_routing_messages_unrouted_total</c>.</summary>
    public long MessagesUnrouted => Interlocked.Read(ref _messagesUnrouted);

    /// <summary>CloudEvents accepted by <c>POST /api/events</c>.</summary>
    public long EventsPosted => Interlocked.Read(ref _eventsPosted);

    /// <summary>Events routed to the event subscriptions that no subscription's filter matched.</summary>
    public long EventsUnmatched => Interlocked.Read(ref _eventsUnmatched);

    /// <summary>Deliveries recorded for webhook and pull subscriptions.</summary>
    public long DeliveriesEnqueued => Interlocked.Read(ref _deliveriesEnqueued);

    /// <summary>Events delivered: webhook 2xx or pull acknowledged.</summary>
    public long DeliveriesSucceeded => Interlocked.Read(ref _deliveriesSucceeded);

    /// <summary>Webhook delivery attempts that failed (per event) and will be retried or dead-lettered.</summary>
    public long DeliveryAttemptsFailed => Interlocked.Read(ref _deliveryAttemptsFailed);

    /// <summary>Events moved to a dead-letter list.</summary>
    public long DeadLettered => Interlocked.Read(ref _deadLettered);

    /// <summary>Events given up without dead-lettering (dead-letter off) or with no destination of their kind.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Events published to MQTT topics by subscriptions with an MQTT destination.</summary>
    public long MqttDeliveries => Interlocked.Read(ref _mqttDeliveries);

    /// <summary>Events handed to pull receivers (each receive of each event).</summary>
    public long PullReceived => Interlocked.Read(ref _pullReceived);

    /// <summary>Device commands accepted (duplicates by message id not counted).</summary>
    public long CommandsSent => Interlocked.Read(ref _commandsSent);

    /// <summary>Command deliveries acknowledged by devices (PUBACK), redeliveries included.</summary>
    public long CommandsDelivered => Interlocked.Read(ref _commandsDelivered);

    /// <summary>Commands answered by their device (Completed or Failed).</summary>
    public long CommandsAnswered => Interlocked.Read(ref _commandsAnswered);

    /// <summary>Commands dead-lettered after their maximum delivery count.</summary>
    public long CommandsDeadLettered => Interlocked.Read(ref _commandsDeadLettered);

    /// <summary>
    /// Events not recorded for a subscription because it held <c>Iot:Routing:MaxPendingEventsPerSubscription</c> events
    /// or <c>MaxPendingBytesPerSubscription</c> bytes: <c>iot_routing_subscription_full_dropped_total</c>.
    /// </summary>
    public long SubscriptionFullDropped => Interlocked.Read(ref _subscriptionFullDropped);

    /// <summary>
    /// Webhook events dead-lettered (reason <c>DestinationNotAllowed</c>) because the destination's address is refused:
    /// <c>iot_routing_webhook_destinations_refused_total</c>.
    /// </summary>
    public long WebhookDestinationsRefused => Interlocked.Read(ref _webhookDestinationsRefused);

    /// <summary>
    /// Subscriptions refused at creation for their destination (webhook address 400, MQTT topic 403):
    /// <c>iot_routing_destinations_refused_total</c>.
    /// </summary>
    public long DestinationsForbidden => Interlocked.Read(ref _destinationsForbidden);

    /// <summary>
    /// Dead letters deleted (the oldest of their subscription) because it held
    /// <c>Iot:Routing:MaxDeadLetteredEventsPerSubscription</c>: <c>iot_routing_dead_letters_evicted_total</c>.
    /// </summary>
    public long DeadLettersEvicted => Interlocked.Read(ref _deadLettersEvicted);

    /// <summary>All counters with their Prometheus names (each a counter, suffix <c>_total</c>).</summary>
    public IReadOnlyList<KeyValuePair<string, long>> Snapshot() =>
    [
        new("iot_routing_messages_routed_total", MessagesRouted),
        new("iot_routing_messages_unrouted_total", MessagesUnrouted),
        new("iot_routing_events_posted_total", EventsPosted),
        new("iot_routing_events_unmatched_total", EventsUnmatched),
        new("iot_routing_deliveries_enqueued_total", DeliveriesEnqueued),
        new("iot_routing_deliveries_succeeded_total", DeliveriesSucceeded),
        new("iot_routing_delivery_attempts_failed_total", DeliveryAttemptsFailed),
        new("iot_routing_dead_lettered_total", DeadLettered),
        new("iot_routing_dropped_total", Dropped),
        new("iot_routing_mqtt_deliveries_total", MqttDeliveries),
        new("iot_routing_pull_received_total", PullReceived),
        new("iot_commands_sent_total", CommandsSent),
        new("iot_commands_delivered_total", CommandsDelivered),
        new("iot_commands_answered_total", CommandsAnswered),
        new("iot_commands_dead_lettered_total", CommandsDeadLettered),
        new("iot_routing_subscription_full_dropped_total", SubscriptionFullDropped),
        new("iot_routing_webhook_destinations_refused_total", WebhookDestinationsRefused),
        new("iot_routing_destinations_refused_total", DestinationsForbidden),
        new("iot_routing_dead_letters_evicted_total", DeadLettersEvicted),
    ];

    internal void MessageRouted() => Interlocked.Increment(ref _messagesRouted);

    internal void MessageUnrouted() => Interlocked.Increment(ref _messagesUnrouted);

    internal void EventPosted() => Interlocked.Increment(ref _eventsPosted);

    internal void EventUnmatched() => Interlocked.Increment(ref _eventsUnmatched);

    internal void Enqueued(int count) => Interlocked.Add(ref _deliveriesEnqueued, count);

    internal void Succeeded(int count) => Interlocked.Add(ref _deliveriesSucceeded, count);

    internal void AttemptsFailed(int count) => Interlocked.Add(ref _deliveryAttemptsFailed, count);

    internal void DeadLetteredEvents(int count) => Interlocked.Add(ref _deadLettered, count);

    internal void DroppedEvents(int count) => Interlocked.Add(ref _dropped, count);

    internal void MqttDelivered() => Interlocked.Increment(ref _mqttDeliveries);

    internal void PullReceivedEvents(int count) => Interlocked.Add(ref _pullReceived, count);

    internal void CommandSent() => Interlocked.Increment(ref _commandsSent);

    internal void CommandDelivered() => Interlocked.Increment(ref _commandsDelivered);

    internal void CommandAnswered() => Interlocked.Increment(ref _commandsAnswered);

    internal void CommandDeadLettered() => Interlocked.Increment(ref _commandsDeadLettered);

    internal void SubscriptionFullDroppedEvents(int count) => Interlocked.Add(ref _subscriptionFullDropped, count);

    internal void WebhookDestinationsRefusedEvents(int count) => Interlocked.Add(ref _webhookDestinationsRefused, count);

    internal void DestinationForbidden() => Interlocked.Increment(ref _destinationsForbidden);

    internal void DeadLettersEvictedEvents(int count) => Interlocked.Add(ref _deadLettersEvicted, count);
}
