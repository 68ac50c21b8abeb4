using Iot.Routing.Rules;

namespace Iot.Routing.Subscriptions;

/// <summary>An event subscription as created through <c>/api/subscriptions</c> (JSON, camelCase).</summary>
internal sealed class EventSubscriptionDefinition
{
    /// <summary>Unique name: 1-128 of letters, digits, <c>-</c>, <c>_</c>, <c>.</c>.</summary>
    public string Name { get; set; } = "";

    /// <summary>Which events the subscription receives.</summary>
    public SubscriptionFilter Filter { get; set; } = new();

    /// <summary>Where the events go.</summary>
    public SubscriptionDestination Destination { get; set; } = new();

    /// <summary>Push retries and event lifetime.</summary>
    public RetryPolicy RetryPolicy { get; set; } = new();

    /// <summary>Dead-lettering of events that cannot be delivered.</summary>
    public DeadLetterPolicy DeadLetter { get; set; } = new();

    /// <summary>Webhook batching.</summary>
    public BatchingPolicy Batching { get; set; } = new();

    /// <summary>Pull delivery settings.</summary>
    public PullPolicy Pull { get; set; } = new();
}

/// <summary>A subscription's filter: topic filter on the subject, event types, and conditions (all must hold).</summary>
internal sealed class SubscriptionFilter
{
    /// <summary>MQTT topic filter on the subject (the MQTT topic); default <c>#</c>.</summary>
    public string TopicFilter { get; set; } = "#";

    /// <summary>Event types to include (case-insensitive); null or empty for all.</summary>
    public List<string>? IncludedEventTypes { get; set; }

    /// <summary>Advanced conditions (see <see cref="EventCondition"/>).</summary>
    public List<EventCondition>? Conditions { get; set; }
}

/// <summary>How a subscription delivers.</summary>
internal enum SubscriptionDestinationKind
{
    /// <summary>HTTP POST of CloudEvents to <see cref="SubscriptionDestination.EndpointUrl"/>.</summary>
    Webhook,

    /// <summary>Receivers pull with lock tokens through the API.</summary>
    Pull,

    /// <summary>Published to an MQTT topic as a structured CloudEvent.</summary>
    Mqtt,
}

/// <summary>A subscription's destination.</summary>
internal sealed class SubscriptionDestination
{
    /// <summary>Webhook, pull or MQTT; default webhook.</summary>
    public SubscriptionDestinationKind Kind { get; set; }

    /// <summary>Webhook: absolute http or https URL.</summary>
    public Uri? EndpointUrl { get; set; }

    /// <summary>MQTT: the topic to publish to.</summary>
    public string? Topic { get; set; }

    /// <summary>MQTT: QoS 0-2; default 1.</summary>
    public byte QualityOfService { get; set; } = 1;
}

/// <summary>Retry policy, as Event Grid's.</summary>
internal sealed class RetryPolicy
{
    /// <summary>Webhook delivery attempts before dead-lettering; default 30, range 1-30.</summary>
    public int MaxDeliveryAttempts { get; set; } = 30;

    /// <summary>How long an undelivered event is kept; default 1 day, range 1 minute to 7 days.</summary>
    public TimeSpan EventTtl { get; set; } = TimeSpan.FromDays(1);
}

/// <summary>Dead-letter policy.</summary>
internal sealed class DeadLetterPolicy
{
    /// <summary>Keep undeliverable events in the subscription's dead-letter list; default true (false drops them).</summary>
    public bool Enabled { get; set; } = true;
}

/// <summary>Batching of webhook deliveries.</summary>
internal sealed class BatchingPolicy
{
    /// <summary>Events per request; default 1 (one structured CloudEvent); above 1 a JSON batch; range 1-5000.</summary>
    public int MaxEventsPerBatch { get; set; } = 1;

    /// <summary>Preferred size of a batch request in KiB (a single larger event still goes alone); default 64, range 1-1024.</summary>
    public int PreferredBatchSizeInKilobytes { get; set; } = 64;
}

/// <summary>Pull settings, as Event Grid namespaces' queue subscriptions.</summary>
internal sealed class PullPolicy
{
    /// <summary>How long a received event stays locked; default 60 s, range 60-300 s.</summary>
    public TimeSpan LockDuration { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Receives before an event is dead-lettered; default 10, range 1-100.</summary>
    public int MaxDeliveryCount { get; set; } = 10;
}
