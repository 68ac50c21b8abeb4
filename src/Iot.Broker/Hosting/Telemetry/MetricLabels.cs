using Iot.Broker.Mqtt;
using Iot.Broker.Security;

namespace Iot.Broker.Hosting.Telemetry;

/// <summary>The label values of the labelled series: limits by name (with their configured values) and drop reasons.</summary>
internal static class MetricLabels
{
    /// <summary>The <c>iot_mqtt_limit</c> series: every configured MQTT limit by its label.</summary>
    public static IEnumerable<(string Name, long Value)> LimitValues(MqttOptions o) =>
    [
        ("max_connections", o.MaxConnections),
        ("max_connections_per_identity", o.MaxConnectionsPerIdentity),
        ("max_packet_size", o.MaxPacketSize),
        ("receive_maximum", o.ReceiveMaximum),
        ("max_inflight_messages", o.MaxInflightMessages),
        ("max_queued_messages", o.MaxQueuedMessages),
        ("max_subscriptions_per_client", o.MaxSubscriptionsPerClient),
        ("max_topic_length", o.MaxTopicLength),
        ("max_topic_levels", o.MaxTopicLevels),
        ("publish_rate_per_second", o.PublishRatePerSecond),
        ("publish_burst", o.PublishBurst),
        ("connect_rate_per_address", o.ConnectRatePerAddress),
        ("topic_alias_maximum", o.TopicAliasMaximum),
        ("max_retained_per_subscribe", o.MaxRetainedPerSubscribe),
        ("max_persistent_sessions_per_identity", o.MaxPersistentSessionsPerIdentity),
        ("max_session_expiry_device", o.MaxSessionExpiryFor(IdentityRole.Device)),
        ("max_session_expiry_service", o.MaxSessionExpiryFor(IdentityRole.Service)),
        ("max_session_expiry_dashboard", o.MaxSessionExpiryFor(IdentityRole.Dashboard)),
        ("connect_rate_max_delay_seconds", o.ConnectRateMaxDelaySeconds),
        ("max_retained_messages_per_identity", o.MaxRetainedMessagesPerIdentity),
        ("max_retained_bytes_per_identity", o.MaxRetainedBytesPerIdentity),
        ("max_retained_messages_per_service", o.MaxRetainedMessagesPerService),
        ("max_retained_bytes_per_service", o.MaxRetainedBytesPerService),
        ("max_retained_messages", o.MaxRetainedMessages),
        ("max_retained_bytes", o.MaxRetainedBytes),
        ("max_pending_durable_writes", o.MaxPendingDurableWrites),
        ("max_pending_durable_bytes", o.MaxPendingDurableBytes),
    ];

    /// <summary>The <c>limit</c> label of <c>iot_mqtt_limit_hits_total</c>.</summary>
    public static string Of(LimitKind limit) => limit switch
    {
        LimitKind.MaxConnections => "max_connections",
        LimitKind.MaxConnectionsPerIdentity => "max_connections_per_identity",
        LimitKind.MaxSubscriptionsPerClient => "max_subscriptions_per_client",
        LimitKind.PublishRateThrottled => "publish_rate_throttled",
        LimitKind.PublishRateDisconnected => "publish_rate_disconnected",
        LimitKind.ConnectRatePerAddress => "connect_rate_per_address",
        LimitKind.TopicLimits => "topic_length_or_levels",
        LimitKind.MaxRetainedPerSubscribe => "max_retained_per_subscribe",
        LimitKind.OpenFiles => "open_files",
        LimitKind.MaxPersistentSessionsPerIdentity => "max_persistent_sessions_per_identity",
        LimitKind.ConnectRateDelayed => "connect_rate_delayed",
        LimitKind.LoginBackoffDelayed => "login_backoff_delayed",
        LimitKind.LoginBackoffRefused => "login_backoff_refused",
        LimitKind.LoginBackoffTableFull => "login_backoff_table_full",
        LimitKind.PasswordHashBusy => "password_hash_busy",
        LimitKind.HttpRequestBody => "http_request_body",
        LimitKind.HttpApiRate => "http_api_rate",
        LimitKind.RetainedPerIdentity => "retained_per_identity",
        LimitKind.RetainedTotal => "retained_total",
        LimitKind.PendingAcknowledgements => "pending_acknowledgements",
        LimitKind.CloseLinger => "close_linger",
        LimitKind.ClusterCutOff => "cluster_cut_off",
        LimitKind.ClusterLiveSubjectLength => "cluster_live_subject_length",
        LimitKind.ClusterLiveOutbox => "cluster_live_outbox",
        _ => limit.ToString(),
    };

    /// <summary>The <c>reason</c> label of <c>iot_mqtt_messages_dropped_total</c>.</summary>
    public static string Of(DropReason reason) => reason switch
    {
        DropReason.QueueFull => "queue_full",
        DropReason.Expired => "expired",
        DropReason.PacketTooLarge => "packet_too_large",
        DropReason.Offline => "offline_qos0",
        DropReason.DurableBacklog => "durable_backlog",
        _ => reason.ToString(),
    };
}
