namespace Iot.Routing.Subscriptions;

/// <summary>How a subscription delivers.</summary>
internal enum EventDeliveryKind
{
    /// <summary>HTTP POST of CloudEvents to <see cref="EventSubscriptionEndpoint.EndpointUrl"/>.</summary>
    Webhook,

    /// <summary>Receivers pull with lock tokens through the API.</summary>
    Pull,

    /// <summary>Published to an MQTT topic as a structured CloudEvent.</summary>
    Mqtt,
}
