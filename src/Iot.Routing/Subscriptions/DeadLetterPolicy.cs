namespace Iot.Routing.Subscriptions;

/// <summary>Dead-letter policy.</summary>
internal sealed class DeadLetterPolicy
{
    /// <summary>Keep undeliverable events in the subscription's dead-letter list; default true (false drops them).</summary>
    public bool Enabled { get; set; } = true;
}
