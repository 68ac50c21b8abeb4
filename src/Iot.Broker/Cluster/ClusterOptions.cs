using System.ComponentModel.DataAnnotations;

namespace Iot.Broker.Cluster;

/// <summary>
/// Settings of cluster mode, bound from <c>Iot:Cluster</c> (see docs/cluster.md and docs/configuration.md). Cluster mode
/// is on when <see cref="NatsOptions.Url"/> is set; without it the broker runs as one process on embedded storage.
/// </summary>
public sealed class ClusterOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Cluster";

    /// <summary>How this broker reaches NATS.</summary>
    public NatsOptions Nats { get; set; } = new();

    /// <summary>This broker's id among the nodes: letters, digits, <c>-</c> and <c>_</c>, at most 64 characters.</summary>
    /// <remarks>Default: generated once and kept in <c>{Iot:DataDir}/node-id</c>, so a restarted node keeps its id.</remarks>
    [RegularExpression("^[A-Za-z0-9_-]{1,64}$")]
    public string? NodeId { get; set; }

    /// <summary>How often a node writes its heartbeat.</summary>
    /// <remarks>Default 1 second; range 100 ms - 1 minute.</remarks>
    [Range(typeof(TimeSpan), "00:00:00.1", "00:01:00")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A node whose last heartbeat is older than this is dead: a live node takes over its wills and session expiry.</summary>
    /// <remarks>Default 5 seconds; range 1 second - 10 minutes; must exceed <see cref="HeartbeatInterval"/> twice.</remarks>
    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan NodeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a JetStream write or key-value operation may take before it counts as failed (no acknowledgement to the client).</summary>
    /// <remarks>Default 5 seconds; range 100 ms - 1 minute.</remarks>
    [Range(typeof(TimeSpan), "00:00:00.1", "00:01:00")]
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a SUBSCRIBE in cluster mode waits, before its SUBACK, for every other live node to confirm that it knows the
    /// new subscriptions (their NATS interest and the persistent sessions' records), so that a message published on any
    /// node after the SUBACK reaches them. A node that does not confirm in time is counted in
    /// <c>iot_cluster_subscribe_sync_timeouts_total</c> and the SUBACK goes out anyway.
    /// </summary>
    /// <remarks>Default 1 second; range 0 - 1 minute (0 sends the SUBACK at once: a message published on another node in the
    /// next milliseconds may miss the subscription).</remarks>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan SubscribeSyncTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>A node cut off from NATS for longer than this closes its MQTT clients rather than accept what it cannot store.</summary>
    /// <remarks>Default 5 seconds; range 0 - 10 minutes (0 closes them as soon as the connection is lost).</remarks>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan CutOffTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Replicas of every JetStream stream and key-value bucket the cluster creates.</summary>
    /// <remarks>Default 3 (survives the loss of one NATS server of three); range 1-5.</remarks>
    [Range(1, 5)]
    public int Replicas { get; set; } = 3;

    /// <summary>
    /// The longest NATS subject a live message may travel on (<c>iot.m.t.</c> plus the escaped topic: a non-ASCII level grows
    /// up to nine times). A message whose subject is longer is delivered on its own node only, and counted in
    /// <c>iot_mqtt_limit_hits_total{limit="cluster_live_subject_length"}</c>: a subject over the NATS servers'
    /// <c>max_control_line</c> would make them close the node's connection.
    /// </summary>
    /// <remarks>Default 4000 (the servers' default <c>max_control_line</c> is 4 KiB); range 64 - 1 048 576. Raise it only together
    /// with <c>max_control_line</c> on every NATS server, leaving 100 bytes to spare.</remarks>
    [Range(64, 1_048_576)]
    public int MaxLiveSubjectLength { get; set; } = 4000;

    /// <summary>
    /// How many accepted messages may wait for the node's one NATS writer of live traffic (one writer, so that publishers
    /// never contend inside the NATS client). A message that finds the queue full is delivered on its own node only, and
    /// counted in <c>iot_mqtt_limit_hits_total{limit="cluster_live_outbox"}</c> (the live hop is at most once).
    /// </summary>
    /// <remarks>Default 16 384; range 256 - 1 048 576.</remarks>
    [Range(256, 1_048_576)]
    public int LiveOutboxCapacity { get; set; } = 16_384;

    /// <summary>
    /// How long a singleton lease (an aggregation window over a partition, an InfluxDB sink partition, a webhook delivery
    /// loop) stays with its node after the node's last renewal: when the node dies, another takes the work over after
    /// this long. The holder renews every third of it and stops the work after <see cref="LeaseDuration"/> minus
    /// <see cref="LeaseSafetyMargin"/> without a renewal (docs/cluster.md, Singletons).
    /// </summary>
    /// <remarks>Default 10 seconds; range 1 second - 5 minutes.</remarks>
    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How much sooner than <see cref="LeaseDuration"/> a holder whose renewals fail stops its work, so that it has stopped
    /// before another node may take the lease. Covers the difference between the nodes' clocks (the others judge expiry by
    /// the holder's timestamp and their own clock) and the time a renewal takes to be stored.
    /// </summary>
    /// <remarks>Default 2 seconds; range 0 - 1 minute; at most half of <see cref="LeaseDuration"/>.</remarks>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan LeaseSafetyMargin { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Whether cluster mode is on.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(Nats.Url);
}

/// <summary>The NATS connection of cluster mode (<c>Iot:Cluster:Nats</c>).</summary>
public sealed class NatsOptions
{
    /// <summary>One or more NATS servers, comma separated (<c>nats://10.0.0.1:4222,nats://10.0.0.2:4222</c>).</summary>
    /// <remarks>Default none: cluster mode off.</remarks>
    public string? Url { get; set; }

    /// <summary>User name (with <see cref="Password"/>).</summary>
    public string? User { get; set; }

    /// <summary>Password of <see cref="User"/>.</summary>
    public string? Password { get; set; }

    /// <summary>An authentication token.</summary>
    public string? Token { get; set; }

    /// <summary>A NATS credentials file (JWT and NKey seed).</summary>
    public string? CredsFile { get; set; }

    /// <summary>PEM file of the certificate authorities that sign the NATS servers' certificates (turns TLS on).</summary>
    public string? TlsCaFile { get; set; }

    /// <summary>PEM client certificate for mutual TLS (with <see cref="TlsKeyFile"/>).</summary>
    public string? TlsCertFile { get; set; }

    /// <summary>PEM private key of <see cref="TlsCertFile"/>.</summary>
    public string? TlsKeyFile { get; set; }
}
