namespace Iot.Routing.Subscriptions;

/// <summary>Retry policy, as Event Grid's.</summary>
internal sealed class RetryPolicy
{
    /// <summary>Webhook delivery attempts before dead-lettering; default 30, range 1-30.</summary>
    public int MaxDeliveryAttempts { get; set; } = 30;

    /// <summary>How long an undelivered event is kept; default 1 day, range 1 minute to 7 days.</summary>
    public TimeSpan EventTtl { get; set; } = TimeSpan.FromDays(1);
}
