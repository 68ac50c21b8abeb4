using System.Diagnostics.Metrics;

namespace Iot.Routing.Hosting;

/// <summary>
/// Counters of the routing layer, updated lock-free and read at collection time by the broker's observable instruments
/// (<see cref="Snapshot"/>), and its three histograms (webhook POSTs, command round trips, group commits) on the
/// <see cref="MeterName"/> meter.
/// </summary>
public sealed class RoutingMetrics
{
    /// <summary>The meter of the routing layer's instruments.</summary>
    public const string MeterName = "Iot.Routing";

    private static readonly RoutingCounter[] All = Enum.GetValues<RoutingCounter>();

    /// <summary>Buckets (seconds) of a remote answer (a webhook POST, a device's answer to a command), 1 ms to 60 s.</summary>
    private static readonly double[] RemoteBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    /// <summary>Buckets (seconds) of a group commit with its fsync, 100 µs to 5 s.</summary>
    private static readonly double[] CommitBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

    private readonly long[] _counters = new long[All.Length];

    /// <summary>Creates the counters and, on the host's meter, the histograms.</summary>
    /// <param name="meterFactory">The host's meter factory; without it (unit tests) the histograms record to nobody.</param>
    public RoutingMetrics(IMeterFactory? meterFactory = null)
    {
        Meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        WebhookDuration = Meter.CreateHistogram("iot.routing.webhook.duration", "s",
            "Time of one webhook POST to an event subscription's endpoint, by outcome (delivered; rejected: a status that dead-letters; failed: retried).",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = RemoteBuckets });
        CommandRoundTrip = Meter.CreateHistogram("iot.commands.round_trip", "s",
            "Time from a command sent to the device to its answer recorded (answers that come while the delivery waits for them).",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = RemoteBuckets });
        StoreCommitDuration = Meter.CreateHistogram("iot.routing.store.commit.duration", "s",
            "Time of one group commit of a routing store (store: routing for event deliveries and subscriptions, queues for queues and commands), fsync included.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = CommitBuckets });
    }

    /// <summary>The meter the routing layer's instruments belong to.</summary>
    public Meter Meter { get; }

    /// <summary><c>iot.routing.webhook.duration</c>, tagged <c>outcome</c>.</summary>
    public Histogram<double> WebhookDuration { get; }

    /// <summary><c>iot.commands.round_trip</c>.</summary>
    public Histogram<double> CommandRoundTrip { get; }

    /// <summary><c>iot.routing.store.commit.duration</c>, tagged <c>store</c>.</summary>
    public Histogram<double> StoreCommitDuration { get; }

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
        RoutingCounter.CrossoverRaised => "iot_crossover_events_raised_total",
        RoutingCounter.CrossoverDropped => "iot_crossover_events_dropped_total",
        RoutingCounter.CrossoverPublished => "iot_crossover_events_published_total",
        RoutingCounter.CrossoverFailed => "iot_crossover_events_failed_total",
        _ => throw new ArgumentOutOfRangeException(nameof(counter)),
    };

    internal void Add(RoutingCounter counter, long count = 1) => Interlocked.Add(ref _counters[(int)counter], count);
}
