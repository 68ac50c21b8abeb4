namespace Iot.Routing.Subscriptions;

/// <summary>A subscription's destination.</summary>
internal sealed class EventSubscriptionEndpoint
{
    /// <summary>Webhook, pull or MQTT; default webhook.</summary>
    public EventDeliveryKind Kind { get; set; }

    /// <summary>Webhook: absolute http or https URL.</summary>
    public Uri? EndpointUrl { get; set; }

    /// <summary>MQTT: the topic to publish to.</summary>
    public string? Topic { get; set; }

    /// <summary>MQTT: QoS 0-2; default 1.</summary>
    public byte QualityOfService { get; set; } = 1;
}
