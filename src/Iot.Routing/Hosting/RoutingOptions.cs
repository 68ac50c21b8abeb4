namespace Iot.Routing.Hosting;

/// <summary>Settings of the routing layer, bound from <c>Iot:Routing</c> (routes themselves: <c>Iot:Routing:Routes</c>).</summary>
public sealed class RoutingOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Routing";

    /// <summary>Directory of <c>routing.db</c>.</summary>
    /// <remarks>Default: <c>Iot:DataDir</c> (itself <c>./data</c> by default). Created when missing.</remarks>
    public string? DataDir { get; set; }

    /// <summary>Whether the built-in route <c>$default</c> (source <c>#</c>, to every event subscription) is in force.</summary>
    /// <remarks>Default true. With false, only configured and API routes apply and other messages count as unrouted.</remarks>
    public bool DefaultEventRoute { get; set; } = true;

    /// <summary>Delay before each webhook retry: the n-th failure waits the n-th entry, later ones the last entry.</summary>
    /// <remarks>Default 10 s, 30 s, 1 min, 5 min, 10 min, 30 min, 1 h, 3 h, 6 h, 12 h (Event Grid's). 1-100 entries, each 1 ms to 1 day.</remarks>
    public IReadOnlyList<TimeSpan>? RetrySchedule { get; set; }

    /// <summary>Webhook requests in flight at once, over all subscriptions.</summary>
    /// <remarks>Default 32, range 1-1024. Each subscription has at most one request in flight.</remarks>
    public int MaxConcurrentDeliveries { get; set; } = 32;

    /// <summary>Timeout of one webhook request (validation or delivery); a timeout counts as a failed attempt.</summary>
    /// <remarks>Default 30 s, range 100 ms to 5 min.</remarks>
    public TimeSpan WebhookTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Whether a webhook must pass the CloudEvents validation handshake (HTTP OPTIONS) before the first delivery.</summary>
    /// <remarks>Default true.</remarks>
    public bool WebhookValidation { get; set; } = true;

    /// <summary>The <c>WebHook-Request-Origin</c> sent in the validation handshake.</summary>
    /// <remarks>Default <c>iot-broker</c>; non-empty.</remarks>
    public string WebhookOrigin { get; set; } = "iot-broker";

    /// <summary>Largest body accepted by <c>POST /api/events</c>, in bytes.</summary>
    /// <remarks>Default 1 048 576, range 1 KiB to 64 MiB.</remarks>
    public int MaxEventPostBytes { get; set; } = 1_048_576;

    /// <summary>Store operations that may wait for the disk before callers (and so MQTT publishers) are held back.</summary>
    /// <remarks>Default 10 000, range 16 to 1 000 000.</remarks>
    public int MaxPendingStoreOperations { get; set; } = 10_000;

    /// <summary>
    /// Whether webhooks may reach loopback, private, link-local (cloud metadata), shared (CGNAT), unspecified,
    /// multicast and reserved addresses. When false such destinations are refused at creation (a literal address or a
    /// <c>localhost</c> name: 400) and, after DNS resolution, on every connection (the event is dead-lettered with reason
    /// <c>DestinationNotAllowed</c>); redirects are never followed.
    /// </summary>
    /// <remarks>
    /// Default: true in the Development environment, false otherwise (Production): whoever may create a subscription
    /// must not be able to make the broker send requests into its own network (server-side request forgery).
    /// </remarks>
    public bool? WebhookAllowPrivateNetworks { get; set; }

    /// <summary>Networks webhooks may reach even when <see cref="WebhookAllowPrivateNetworks"/> is false (an on-premises receiver).</summary>
    /// <remarks>Default none. Each entry a CIDR (<c>10.20.0.0/16</c>) or a single address (<c>10.20.1.5</c>); at most 100.</remarks>
    public IReadOnlyList<string>? WebhookAllowedNetworks { get; set; }

    /// <summary>
    /// Pending events (not yet delivered or dead-lettered; pull events locked by a receiver included) one webhook or
    /// pull subscription may hold. When full, a new event for that subscription is dropped for it alone (counted in
    /// <c>iot_routing_subscription_full_dropped_total</c>, logged at most once a minute per subscription); publishers and
    /// other subscriptions are not affected.
    /// </summary>
    /// <remarks>Default 100 000, range 1 to 100 000 000.</remarks>
    public int MaxPendingEventsPerSubscription { get; set; } = 100_000;

    /// <summary>Bytes of pending events (encoded CloudEvents) one subscription may hold; as <see cref="MaxPendingEventsPerSubscription"/>.</summary>
    /// <remarks>Default 67 108 864 (64 MiB), range 1 MiB to 1 TiB.</remarks>
    public long MaxPendingBytesPerSubscription { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// Dead-lettered events one webhook or pull subscription may hold. Dead letters have no expiry and the API can only
    /// redeliver them, so beyond this the subscription's oldest dead letters (by the time they were dead-lettered) are
    /// deleted when a new one arrives, in the same transaction: the newest are kept (counted in
    /// <c>iot_routing_dead_letters_evicted_total</c>, logged at most once a minute per subscription).
    /// </summary>
    /// <remarks>
    /// Default 100 000 (as <see cref="MaxPendingEventsPerSubscription"/>: a receiver down long enough for every pending
    /// event to be given up leaves at most as many dead letters as it could have pending), range 1 to 100 000 000.
    /// </remarks>
    public int MaxDeadLetteredEventsPerSubscription { get; set; } = 100_000;

    internal static readonly TimeSpan[] DefaultRetrySchedule =
    [
        TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(30), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5),
        TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(30), TimeSpan.FromHours(1), TimeSpan.FromHours(3),
        TimeSpan.FromHours(6), TimeSpan.FromHours(12),
    ];

    internal IReadOnlyList<TimeSpan> EffectiveRetrySchedule => RetrySchedule is { Count: > 0 } schedule ? schedule : DefaultRetrySchedule;
}
