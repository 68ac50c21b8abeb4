namespace Iot.Routing.Subscriptions;

/// <summary>An event subscription as created through <c>/api/subscriptions</c> (JSON, camelCase).</summary>
internal sealed class EventSubscriptionDefinition
{
    /// <summary>Unique name: 1-128 of letters, digits, <c>-</c>, <c>_</c>, <c>.</c>.</summary>
    public string Name { get; set; } = "";

    /// <summary>Which events the subscription receives.</summary>
    public EventSubscriptionFilter Filter { get; set; } = new();

    /// <summary>Where the events go.</summary>
    public EventSubscriptionEndpoint Destination { get; set; } = new();

    /// <summary>Push retries and event lifetime.</summary>
    public RetryPolicy RetryPolicy { get; set; } = new();

    /// <summary>Dead-lettering of events that cannot be delivered.</summary>
    public DeadLetterPolicy DeadLetter { get; set; } = new();

    /// <summary>Webhook batching.</summary>
    public BatchingPolicy Batching { get; set; } = new();

    /// <summary>Pull delivery settings.</summary>
    public PullPolicy Pull { get; set; } = new();
}
