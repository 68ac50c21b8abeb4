namespace Iot.Routing.Subscriptions;

/// <summary>Pull settings, as Event Grid namespaces' queue subscriptions.</summary>
internal sealed class PullPolicy
{
    /// <summary>How long a received event stays locked; default 60 s, range 60-300 s.</summary>
    public TimeSpan LockDuration { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Receives before an event is dead-lettered; default 10, range 1-100.</summary>
    public int MaxDeliveryCount { get; set; } = 10;
}
