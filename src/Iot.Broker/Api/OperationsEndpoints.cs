using System.Globalization;
using System.Text;
using Iot.Broker.Hosting;
using Iot.Broker.Hosting.Health;
using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;
using Iot.Broker.Security;
using Iot.Routing.Hosting;

namespace Iot.Broker.Api;

/// <summary>The probes (<see cref="Hosting.Health.HealthEndpoints"/>) and <c>/metrics</c> (Prometheus text exposition format 0.0.4).</summary>
internal static class OperationsEndpoints
{
    public static IEndpointRouteBuilder MapOperationsEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapIotHealth();
        endpoints.MapGet("/metrics", (BrokerMetrics metrics, SessionManager sessions, SubscriptionIndex subscriptions, RetainedMessages retained, ISessionStore store, IServiceProvider services) =>
            Results.Text(Render(metrics, sessions, subscriptions, retained, store, services.GetService<RoutingMetrics>(), services.GetService<Cluster.ClusterConnection>() is not null)
                + RenderStreams(services) + RenderLoginProtection(services) + RenderHttpLimits(services) + Cluster.Nodes.ClusterEndpoints.RenderMetrics(services),
                "text/plain; version=0.0.4; charset=utf-8"))
            .WithName("GetMetrics").WithTags("Operations").WithSummary("Prometheus metrics (text exposition format 0.0.4); no API key.")
            .Produces<string>(StatusCodes.Status200OK, "text/plain");
        return endpoints;
    }

    /// <summary>The configured HTTP limits (<c>Iot:Http:*</c>), as <c>iot_mqtt_limit</c> gives the MQTT ones.</summary>
    private static string RenderHttpLimits(IServiceProvider services)
    {
        var http = services.GetRequiredService<Microsoft.Extensions.Options.IOptions<HttpOptions>>().Value;
        return string.Create(CultureInfo.InvariantCulture,
            $"# HELP iot_http_limit Configured HTTP limits (Iot:Http:*).\n# TYPE iot_http_limit gauge\niot_http_limit{{limit=\"max_request_body_bytes\"}} {http.MaxRequestBodyBytes}\niot_http_limit{{limit=\"request_body_drain_bytes\"}} {http.RequestBodyDrainBytes}\n");
    }

    /// <summary>The broker's own lines; the <c>iot_cluster_*</c> counters only in cluster mode (<paramref name="clusterMode"/>).</summary>
    internal static string Render(
        BrokerMetrics m, SessionManager sessions, SubscriptionIndex subscriptions, RetainedMessages retained, ISessionStore store, RoutingMetrics? routing = null,
        bool clusterMode = false)
    {
        long queued = 0;
        foreach (var session in sessions.Sessions)
        {
            queued += session.QueuedCount;
        }

        var text = new StringBuilder(4096);
        Gauge(text, "iot_mqtt_connections", "Open MQTT connections.", m.Connections);
        foreach (var counter in BrokerCounters.All)
        {
            var (name, help) = BrokerCounters.Describe(counter);
            if (clusterMode || !name.StartsWith("iot_cluster_", StringComparison.Ordinal))
            {
                Counter(text, name, help, m.Read(counter));
            }
        }

        Gauge(text, "iot_mqtt_sessions", "Sessions, connected or persistent.", sessions.SessionCount);
        Gauge(text, "iot_mqtt_subscriptions", "Subscriptions in the topic tree.", subscriptions.Count);
        Gauge(text, "iot_mqtt_retained_messages", "Retained messages.", retained.Count);
        Gauge(text, "iot_mqtt_queued_messages", "Messages queued or in flight to sessions.", queued);
        Gauge(text, "iot_mqtt_retained_owned_messages", "Retained messages charged to clients (Iot:Mqtt:MaxRetainedMessages); the broker's own are not.", retained.OwnedCount);
        Gauge(text, "iot_mqtt_retained_owned_bytes", "Bytes (topic, payload, properties) of the retained messages charged to clients (Iot:Mqtt:MaxRetainedBytes).", retained.OwnedBytes);
        Gauge(text, "iot_mqtt_retained_pending", "Retained messages matched at SUBSCRIBE and not yet handed to the session.", m.RetainedPending);
        text.Append("# HELP iot_mqtt_messages_dropped_total Messages not delivered to a subscriber, by reason.\n# TYPE iot_mqtt_messages_dropped_total counter\n");
        foreach (var reason in Enum.GetValues<DropReason>())
        {
            text.Append(CultureInfo.InvariantCulture, $"iot_mqtt_messages_dropped_total{{reason=\"{Label(reason)}\"}} {m.Dropped(reason)}\n");
        }

        text.Append("# HELP iot_mqtt_limit_hits_total Times a configured limit refused or slowed a client, by limit.\n# TYPE iot_mqtt_limit_hits_total counter\n");
        foreach (var limit in Enum.GetValues<LimitKind>())
        {
            text.Append(CultureInfo.InvariantCulture, $"iot_mqtt_limit_hits_total{{limit=\"{LimitLabel(limit)}\"}} {m.LimitHits(limit)}\n");
        }

        text.Append("# HELP iot_mqtt_limit Configured limits (Iot:Mqtt:*), so that a dashboard can show usage against them.\n# TYPE iot_mqtt_limit gauge\n");
        foreach (var (name, value) in LimitValues(sessions.Options))
        {
            text.Append(CultureInfo.InvariantCulture, $"iot_mqtt_limit{{limit=\"{name}\"}} {value}\n");
        }

        var gc = GC.GetGCMemoryInfo();
        Gauge(text, "process_resident_memory_bytes", "Resident memory of the broker process.", Environment.WorkingSet);
        if (OpenFiles.Open() is { } open)
        {
            Gauge(text, "process_open_fds", "File descriptors the broker has open (every MQTT connection is one).", open);
        }

        if (OpenFiles.Limits() is var (soft, _))
        {
            Gauge(text, "process_max_fds", "The open-files limit (soft): at most this many descriptors, connections included.", soft);
        }

        Gauge(text, "dotnet_gc_heap_bytes", "Managed heap after the last collection, fragmentation included.", gc.HeapSizeBytes);
        Gauge(text, "dotnet_gc_fragmented_bytes", "Free space between live objects in the managed heap after the last collection.", gc.FragmentedBytes);
        Gauge(text, "dotnet_gc_committed_bytes", "Memory the garbage collector has committed.", gc.TotalCommittedBytes);
        text.Append("# HELP dotnet_gc_collections_total Garbage collections since start, by generation (a gen 1 collection also counts in gen 0).\n# TYPE dotnet_gc_collections_total counter\n");
        for (var generation = 0; generation <= GC.MaxGeneration; generation++)
        {
            text.Append(CultureInfo.InvariantCulture, $"dotnet_gc_collections_total{{generation=\"{generation}\"}} {GC.CollectionCount(generation)}\n");
        }

        text.Append(CultureInfo.InvariantCulture, $"# HELP dotnet_gc_pause_seconds_total Time the garbage collector paused the broker's threads since start.\n# TYPE dotnet_gc_pause_seconds_total counter\ndotnet_gc_pause_seconds_total {GC.GetTotalPauseDuration().TotalSeconds:F6}\n");
        Counter(text, "dotnet_gc_allocated_bytes_total", "Bytes allocated on the managed heap since start (allocation rate: its rate per second).", GC.GetTotalAllocatedBytes());
        text.Append(CultureInfo.InvariantCulture, $"# HELP iot_heap_compaction_seconds_total Time paused in those compactions.\n# TYPE iot_heap_compaction_seconds_total counter\niot_heap_compaction_seconds_total {m.HeapCompactionSeconds:F6}\n");
        text.Append(CultureInfo.InvariantCulture, $"# HELP iot_heap_startup_compaction_seconds Pause of the compaction a second after start (Iot:Mqtt:CompactHeapAtStart); 0 before it or when off.\n# TYPE iot_heap_startup_compaction_seconds gauge\niot_heap_startup_compaction_seconds {m.HeapStartupCompactionSeconds:F6}\n");
        if (store is SqliteSessionStore sqlite)
        {
            Counter(text, "iot_store_batches_total", "Group commits of the session store.", sqlite.CommittedBatches);
            Counter(text, "iot_store_operations_total", "Writes committed by the session store.", sqlite.CommittedOperations);
            Counter(text, "iot_store_failed_batches_total", "Group commits that failed.", sqlite.FailedBatches);
        }

        if (routing is not null)
        {
            foreach (var (name, value) in routing.Snapshot())
            {
                Counter(text, name, "Routing layer: see docs/api.md.", value);
            }
        }

        return text.ToString();
    }

    /// <summary>The login back-off tables and the password verification pool, when MQTT authentication is configured.</summary>
    private static string RenderLoginProtection(IServiceProvider services)
    {
        var text = new StringBuilder();
        if (services.GetService<Security.LoginBackoff>() is { } backoff)
        {
            text.Append("# HELP iot_mqtt_login_backoff_tracked Addresses and usernames with failed logins remembered for the back-off, by table.\n# TYPE iot_mqtt_login_backoff_tracked gauge\n");
            text.Append(CultureInfo.InvariantCulture, $"iot_mqtt_login_backoff_tracked{{table=\"address\"}} {backoff.TrackedAddresses}\n");
            text.Append(CultureInfo.InvariantCulture, $"iot_mqtt_login_backoff_tracked{{table=\"username\"}} {backoff.TrackedUsernames}\n");
        }

        if (services.GetService<Security.Identities.IdentityAuthenticator>()?.Pool is { } pool)
        {
            Gauge(text, "iot_mqtt_password_hashes_running", "Password verifications (PBKDF2) running now (at most Iot:Security:PasswordHashConcurrency).", pool.Running);
            Gauge(text, "iot_mqtt_password_hashes_queued", "Password verifications waiting for the pool (at most Iot:Security:PasswordHashQueue).", pool.Queued);
            Counter(text, "iot_mqtt_password_hashes_total", "Password verifications run (cached reconnects need none).", pool.Completed);
        }

        return text.ToString();
    }

    private static string RenderStreams(IServiceProvider services)
    {
        var text = new StringBuilder();
        var described = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, type, help, value) in Iot.Streams.Hosting.StreamsMetrics.Snapshot(services))
        {
            var family = name.Split('{')[0];
            if (described.Add(family))
            {
                text.Append(CultureInfo.InvariantCulture, $"# HELP {family} {help}\n# TYPE {family} {type}\n");
            }

            text.Append(CultureInfo.InvariantCulture, $"{name} {value}\n");
        }

        return text.ToString();
    }

    private static IEnumerable<(string Name, long Value)> LimitValues(MqttOptions o) =>
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
    ];

    private static string LimitLabel(LimitKind limit) => limit switch
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
        LimitKind.RetainedPerIdentity => "retained_per_identity",
        LimitKind.RetainedTotal => "retained_total",
        LimitKind.PendingAcknowledgements => "pending_acknowledgements",
        LimitKind.CloseLinger => "close_linger",
        LimitKind.ClusterCutOff => "cluster_cut_off",
        LimitKind.ClusterLiveSubjectLength => "cluster_live_subject_length",
        LimitKind.ClusterLiveOutbox => "cluster_live_outbox",
        _ => limit.ToString(),
    };

    private static string Label(DropReason reason) => reason switch
    {
        DropReason.QueueFull => "queue_full",
        DropReason.Expired => "expired",
        DropReason.PacketTooLarge => "packet_too_large",
        DropReason.Offline => "offline_qos0",
        _ => reason.ToString(),
    };

    private static void Counter(StringBuilder text, string name, string help, long value) => Metric(text, name, help, "counter", value);

    private static void Gauge(StringBuilder text, string name, string help, long value) => Metric(text, name, help, "gauge", value);

    private static void Metric(StringBuilder text, string name, string help, string type, long value) =>
        text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} {type}\n{name} {value}\n");
}
