using System.Diagnostics.Metrics;
using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;
using Iot.Broker.Security;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Hosting.Telemetry;

/// <summary>
/// The observable instruments of one host: each reads, when the metrics are collected (a scrape of <c>/metrics</c>, an
/// OTLP export), a counter the hot path keeps as a plain <see cref="Interlocked"/> long, or a gauge from state. Nothing on
/// the publish path changes. Each instrument is named as its Prometheus series (counters end in <c>_total</c>, units
/// in the name), so the exporter writes the names <c>/metrics</c> always had, and OTLP sends the same names. The
/// histograms are not here: they are recorded where the time is measured (docs/api.md, "Metrics").
/// </summary>
/// <remarks>
/// Created when the host starts (a hosted service, registered after the services it reads), not when the endpoints are
/// mapped: a store that cannot open then fails the start as before, named by <see cref="StartupFailure"/>.
/// </remarks>
internal sealed partial class IotInstruments(IServiceProvider services, IMeterFactory meterFactory) : IHostedService
{
    /// <summary>The meter of the process and garbage collector gauges (<c>process_*</c>, <c>dotnet_gc_*</c>).</summary>
    public const string RuntimeMeterName = "Iot.Runtime";

    /// <summary>The meter of the cluster's instruments (<c>iot_cluster_*</c>, cluster mode only).</summary>
    public const string ClusterMeterName = "Iot.Cluster";

    private readonly IServiceProvider _services = services;
    private int _created;

    /// <summary>Creates the instruments (once).</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _created, 1) != 0)
        {
            return Task.CompletedTask;
        }

        var metrics = _services.GetRequiredService<BrokerMetrics>();
        AddMqtt(metrics.Meter, metrics, _services.GetService<Cluster.ClusterConnection>() is not null);
        AddSecurity(metrics.Meter);
        AddRuntime(meterFactory.Create(RuntimeMeterName));
        AddRouting(meterFactory.Create(Routing.Hosting.RoutingMetrics.MeterName));
        AddStreams(meterFactory.Create(Streams.Hosting.StreamsMetrics.MeterName));
        AddCluster(meterFactory.Create(ClusterMeterName));
        return Task.CompletedTask;
    }

    /// <summary>Nothing to stop: the meters end with the host's meter factory.</summary>
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>The broker's counters and gauges; the <c>iot_cluster_*</c> counters of <see cref="BrokerCounter"/> only in cluster mode.</summary>
    private void AddMqtt(Meter meter, BrokerMetrics m, bool clusterMode)
    {
        var sessions = _services.GetRequiredService<SessionManager>();
        var subscriptions = _services.GetRequiredService<SubscriptionIndex>();
        var retained = _services.GetRequiredService<RetainedMessages>();
        meter.CreateObservableUpDownCounter("iot_mqtt_connections", () => m.Connections, description: "Open MQTT connections.");
        foreach (var counter in BrokerCounters.All)
        {
            var (name, help) = BrokerCounters.Describe(counter);
            if (clusterMode || !name.StartsWith("iot_cluster_", StringComparison.Ordinal))
            {
                meter.CreateObservableCounter(name, () => m.Read(counter), description: help);
            }
        }

        meter.CreateObservableUpDownCounter("iot_mqtt_sessions", () => (long)sessions.SessionCount, description: "Sessions, connected or persistent.");
        meter.CreateObservableUpDownCounter("iot_mqtt_subscriptions", () => (long)subscriptions.Count, description: "Subscriptions in the topic tree.");
        meter.CreateObservableUpDownCounter("iot_mqtt_retained_messages", () => (long)retained.Count, description: "Retained messages.");
        meter.CreateObservableUpDownCounter("iot_mqtt_queued_messages", () => Queued(sessions), description: "Messages queued or in flight to sessions.");
        meter.CreateObservableUpDownCounter("iot_mqtt_retained_owned_messages", () => (long)retained.OwnedCount,
            description: "Retained messages charged to clients (Iot:Mqtt:MaxRetainedMessages); the broker's own are not.");
        meter.CreateObservableUpDownCounter("iot_mqtt_retained_owned_bytes", () => retained.OwnedBytes, unit: "By",
            description: "Bytes (topic, payload, properties) of the retained messages charged to clients (Iot:Mqtt:MaxRetainedBytes).");
        meter.CreateObservableUpDownCounter("iot_mqtt_retained_pending", () => m.RetainedPending,
            description: "Retained messages matched at SUBSCRIBE and not yet handed to the session.");
        AddBacklog(meter, _services.GetRequiredService<BrokerContext>().Backlog);
        meter.CreateObservableCounter("iot_mqtt_messages_dropped_total", () => Enum.GetValues<DropReason>().Select(r => Tagged(m.Dropped(r), "reason", MetricLabels.Of(r))),
            description: "Messages not delivered to a subscriber, by reason.");
        meter.CreateObservableCounter("iot_mqtt_limit_hits_total", () => Enum.GetValues<LimitKind>().Select(l => Tagged(m.LimitHits(l), "limit", MetricLabels.Of(l))),
            description: "Times a configured limit refused or slowed a client, by limit.");
        meter.CreateObservableUpDownCounter("iot_mqtt_limit", () => MetricLabels.LimitValues(sessions.Options).Select(l => Tagged(l.Value, "limit", l.Name)),
            description: "Configured limits (Iot:Mqtt:*), so that a dashboard can show usage against them.");
        var http = _services.GetRequiredService<IOptions<HttpOptions>>().Value;
        meter.CreateObservableUpDownCounter("iot_http_limit",
            () => new[]
            {
                Tagged(http.MaxRequestBodyBytes, "limit", "max_request_body_bytes"), Tagged(http.RequestBodyDrainBytes, "limit", "request_body_drain_bytes"),
                Tagged(http.ApiRequestsPerSecond, "limit", "api_requests_per_second"), Tagged(http.ApiRequestBurst, "limit", "api_request_burst"),
            },
            description: "Configured HTTP limits (Iot:Http:*).");
        meter.CreateObservableCounter("iot_heap_compaction_seconds_total", () => m.HeapCompactionSeconds, unit: "s", description: "Time paused in those compactions.");
        meter.CreateObservableGauge("iot_heap_startup_compaction_seconds", () => m.HeapStartupCompactionSeconds, unit: "s",
            description: "Pause of the compaction a second after start (Iot:Mqtt:CompactHeapAtStart); 0 before it or when off.");
        if (_services.GetRequiredService<ISessionStore>() is SqliteSessionStore sqlite)
        {
            meter.CreateObservableCounter("iot_store_batches_total", () => sqlite.CommittedBatches, description: "Group commits of the session store.");
            meter.CreateObservableCounter("iot_store_operations_total", () => sqlite.CommittedOperations, description: "Writes committed by the session store.");
            meter.CreateObservableCounter("iot_store_failed_batches_total", () => sqlite.FailedBatches, description: "Group commits that failed.");
        }
    }

    /// <summary>Load leveling: the publishes waiting for durable writes and the pauses of their publishers (<see cref="DurableBacklog"/>).</summary>
    private static void AddBacklog(Meter meter, DurableBacklog backlog)
    {
        meter.CreateObservableUpDownCounter("iot_mqtt_durable_backlog_writes", () => backlog.Writes,
            description: "Publishes waiting for their durable writes (stream appends, queue sends, webhook deliveries, persistent sessions); at most Iot:Mqtt:MaxPendingDurableWrites plus one per publishing connection.");
        meter.CreateObservableUpDownCounter("iot_mqtt_durable_backlog_bytes", () => backlog.Bytes, unit: "By",
            description: "Payload bytes of those publishes (Iot:Mqtt:MaxPendingDurableBytes).");
        meter.CreateObservableUpDownCounter("iot_mqtt_durable_backlog_saturated", () => backlog.IsSaturated ? 1L : 0L,
            description: "1 while the durable backlog is over its bound and not yet under Iot:Mqtt:PendingDurableResumePercent of it: its publishers are not read from.");
        meter.CreateObservableUpDownCounter("iot_mqtt_durable_backlog_paused_connections", () => backlog.PausedConnections,
            description: "Connections not read from now because the durable backlog is full.");
        meter.CreateObservableCounter("iot_mqtt_durable_backlog_pauses_total", () => backlog.Pauses,
            description: "Times a connection stopped reading because the durable backlog was full (its PUBACKs waited for the store).");
        meter.CreateObservableCounter("iot_mqtt_durable_backlog_paused_seconds_total", () => backlog.PausedSeconds, unit: "s",
            description: "Time connections spent not read from because the durable backlog was full, summed over connections.");
    }

    /// <summary>The login back-off tables and the password verification pool, when MQTT authentication is configured.</summary>
    private void AddSecurity(Meter meter)
    {
        if (_services.GetService<LoginBackoff>() is { } backoff)
        {
            meter.CreateObservableUpDownCounter("iot_mqtt_login_backoff_tracked",
                () => new[] { Tagged(backoff.TrackedAddresses, "table", "address"), Tagged(backoff.TrackedUsernames, "table", "username") },
                description: "Addresses and usernames with failed logins remembered for the back-off, by table.");
        }

        if (_services.GetService<Security.Identities.IdentityAuthenticator>()?.Pool is { } pool)
        {
            meter.CreateObservableUpDownCounter("iot_mqtt_password_hashes_running", () => (long)pool.Running,
                description: "Password verifications (PBKDF2) running now (at most Iot:Security:PasswordHashConcurrency).");
            meter.CreateObservableUpDownCounter("iot_mqtt_password_hashes_queued", () => (long)pool.Queued,
                description: "Password verifications waiting for the pool (at most Iot:Security:PasswordHashQueue).");
            meter.CreateObservableCounter("iot_mqtt_password_hashes_total", () => pool.Completed, description: "Password verifications run (cached reconnects need none).");
        }
    }

    private static long Queued(SessionManager sessions)
    {
        long queued = 0;
        foreach (var session in sessions.Sessions)
        {
            queued += session.QueuedCount;
        }

        return queued;
    }

    private static Measurement<long> Tagged(long value, string key, string label) => new(value, new KeyValuePair<string, object?>(key, label));
}
