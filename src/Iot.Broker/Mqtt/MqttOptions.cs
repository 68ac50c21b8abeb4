using System.ComponentModel.DataAnnotations;
using Iot.Broker.Security;
using Epoll = Iot.Broker.Mqtt.Transport.Epoll;

namespace Iot.Broker.Mqtt;

/// <summary>Settings under <c>Iot:Mqtt</c>. Each limit is reported in <c>/metrics</c> when it bites.</summary>
public sealed class MqttOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Mqtt";

    /// <summary>MQTT over TCP.</summary>
    /// <remarks>Default 1883; 0 picks a free port; -1 disables the listener.</remarks>
    [Range(-1, 65535)]
    public int Port { get; set; } = 1883;

    /// <summary>MQTT over TLS; served only when <see cref="TlsCertificatePath"/> is set.</summary>
    /// <remarks>Default 8883; 0 picks a free port.</remarks>
    [Range(0, 65535)]
    public int TlsPort { get; set; } = 8883;

    /// <summary>PFX/PKCS#12 or PEM certificate file for the TLS listener.</summary>
    /// <remarks>Default none (no TLS listener).</remarks>
    public string? TlsCertificatePath { get; set; }

    /// <summary>PEM private key file when <see cref="TlsCertificatePath"/> is a PEM certificate.</summary>
    /// <remarks>Default none.</remarks>
    public string? TlsKeyPath { get; set; }

    /// <summary>Password of the PFX file.</summary>
    /// <remarks>Default none.</remarks>
    public string? TlsCertificatePassword { get; set; }

    /// <summary>The lean transport on .NET sockets (any OS).</summary>
    public const string SocketTransport = "socket";

    /// <summary>The lean transport on the broker's own epoll loops (Linux on x86-64 or ARM64).</summary>
    public const string EpollTransport = "epoll";

    /// <summary>Kestrel as the transport of the plain MQTT listener.</summary>
    public const string KestrelTransport = "kestrel";

    /// <summary>The default: <c>epoll</c> where it is supported, else <c>socket</c>.</summary>
    public const string AutoTransport = "auto";

    /// <summary>
    /// Transport of the plain MQTT listener: <c>epoll</c> (the broker's own accept thread and epoll loops over raw
    /// file descriptors: about 200 bytes per idle connection, packets handled on the loop thread), <c>socket</c> (a
    /// lean transport on .NET sockets: no pipes and no task per idle connection), <c>kestrel</c> (Kestrel's socket
    /// transport, as TLS and WebSocket use), or <c>auto</c>: <c>epoll</c> on Linux x86-64/ARM64, else <c>socket</c>.
    /// </summary>
    /// <remarks>Default <c>auto</c>. See docs/adr/0006-lean-tcp-transport.md and 0007-epoll-transport.md.</remarks>
    [Required]
    [RegularExpression("^(?i)(auto|epoll|socket|kestrel)$", ErrorMessage = "Iot:Mqtt:Transport must be 'auto', 'epoll', 'socket' or 'kestrel'.")]
    public string Transport { get; set; } = AutoTransport;

    /// <summary>The transport in use: <see cref="Transport"/> in lower case, with <c>auto</c> resolved.</summary>
    public string EffectiveTransport => Transport.ToLowerInvariant() switch
    {
        AutoTransport => Epoll.LinuxSockets.IsSupported ? EpollTransport : SocketTransport,
        var named => named,
    };

    /// <summary>
    /// Threads waiting for readiness (epoll loops) under the epoll transport; each reads and handles its connections'
    /// packets, while the thread pool runs the rest (writers beyond the inline ones, durable acknowledgements, routing,
    /// HTTP). Fewer loops wake fewer threads per message (less CPU at low rates); more read in parallel.
    /// </summary>
    /// <remarks>Default 0 = one per two processors, at least one (<see cref="EffectiveEpollThreads"/>); range 0-256.</remarks>
    [Range(0, 256)]
    public int EpollThreads { get; set; }

    /// <summary>
    /// Nice value of the epoll loop threads (Linux, epoll transport). 0 keeps the process's own. A positive value keeps a
    /// loop woken by a client's packet from preempting that client on its own core, so at low rates the packet, the
    /// forward and the subscriber's wake-up stay on one core: on a machine given to the broker, p99 at 2 000 msg/s
    /// fell from 111-153 to 75-84 µs; on a machine whose cores are busy with other work the loops get a smaller share
    /// (docs/benchmarks.md, "Issue 8: what decides p99 at 2 000 msg/s"). Below 0 needs CAP_SYS_NICE.
    /// </summary>
    /// <remarks>Default 0; range -20 to 19.</remarks>
    [Range(-20, 19)]
    public int EpollNice { get; set; }

    /// <summary><see cref="EpollThreads"/> with 0 resolved: half the processors, at least one.</summary>
    public int EffectiveEpollThreads => EpollThreads > 0 ? EpollThreads : Math.Max(1, Environment.ProcessorCount / 2);

    /// <summary>Pending connections the kernel queues for the plain MQTT listener before they are accepted (listen backlog).</summary>
    /// <remarks>Default 512; range 1-65535 (the kernel caps it at <c>net.core.somaxconn</c>). Socket transport only.</remarks>
    [Range(1, 65535)]
    public int ListenBacklog { get; set; } = 512;

    /// <summary>Address the MQTT listeners bind to: <c>*</c> for every interface, or an IP address.</summary>
    /// <remarks>Default <c>*</c>.</remarks>
    [Required]
    public string BindAddress { get; set; } = "*";

    /// <summary>Largest MQTT packet accepted and advertised in CONNACK (Maximum Packet Size), in bytes.</summary>
    /// <remarks>Default 1 MiB (1 048 576); range 64 to 268 435 460. A larger packet closes the connection with reason 0x95.</remarks>
    [Range(64, 268_435_460)]
    public int MaxPacketSize { get; set; } = 1_048_576;

    /// <summary>Receive Maximum advertised to MQTT 5 clients: QoS 1/2 publishes a client may have unacknowledged.</summary>
    /// <remarks>Default 128; range 1-65535. A client that exceeds it is disconnected with reason 0x93. It also bounds the
    /// acknowledgements one connection keeps waiting for durable writes: an MQTT 3.1.1 client beyond it is read from
    /// again once the store caught up (<c>limit="pending_acknowledgements"</c>).</remarks>
    [Range(1, 65535)]
    public int ReceiveMaximum { get; set; } = 128;

    /// <summary>
    /// Publishes the broker may have waiting for their durable writes (stream appends, queue sends, pending webhook
    /// deliveries, persistent sessions' queues, retained messages) across all connections before it stops reading from
    /// the QoS 1/2 publishers that feed them (queue-based load leveling, <see cref="DurableBacklog"/>).
    /// </summary>
    /// <remarks>Default 16 384; range 1 to 10 000 000. Each connection can add one publish beyond it (the one that found
    /// it full), so the most ever waiting is this plus the publishing connections. While it is full, QoS 0 publishes are
    /// delivered to subscribers but not offered to the routes (<c>iot_mqtt_messages_dropped_total{reason="durable_backlog"}</c>).</remarks>
    [Range(1, 10_000_000)]
    public int MaxPendingDurableWrites { get; set; } = 16_384;

    /// <summary>Payload bytes of the publishes waiting for their durable writes before the broker stops reading from their
    /// publishers, as <see cref="MaxPendingDurableWrites"/> for memory.</summary>
    /// <remarks>Default 67 108 864 (64 MiB); range 1 024 to 1 TiB.</remarks>
    [Range(1024L, 1L << 40)]
    public long MaxPendingDurableBytes { get; set; } = 64L << 20;

    /// <summary>
    /// The low-water mark, in percent of <see cref="MaxPendingDurableWrites"/> and <see cref="MaxPendingDurableBytes"/>:
    /// paused publishers are read from again once the waiting publishes are below both.
    /// </summary>
    /// <remarks>Default 50; range 0-99. The gap between the marks keeps the publishers from being paused and resumed on
    /// every commit; 0 waits until the store has caught up completely.</remarks>
    [Range(0, 99)]
    public int PendingDurableResumePercent { get; set; } = 50;

    /// <summary>Upper bound on QoS 1/2 messages in flight to one client (the client's Receive Maximum applies when smaller).</summary>
    /// <remarks>Default 64; range 1-65535. MQTT 3.1.1 clients get this window.</remarks>
    [Range(1, 65535)]
    public int MaxInflightMessages { get; set; } = 64;

    /// <summary>Topic Alias Maximum advertised to MQTT 5 clients (aliases a client may use towards the broker).</summary>
    /// <remarks>Default 64; range 0-65535; 0 disables inbound aliases.</remarks>
    [Range(0, 65535)]
    public int TopicAliasMaximum { get; set; } = 64;

    /// <summary>
    /// Connection writers that run on the thread that handled a packet (instead of waking a thread-pool thread), per
    /// packet handled: the acknowledgement and the first subscribers' PUBLISH leave with one hand-off less.
    /// </summary>
    /// <remarks>Default 4; range 0-1024; 0 starts every writer on the thread pool. Larger fan-outs use the pool for the rest.</remarks>
    [Range(0, 1024)]
    public int InlineWritersPerBatch { get; set; } = 4;

    /// <summary>
    /// Seconds without a packet from the client after which a connection gives back its empty send queue and its
    /// session's empty in-flight map (recreated by the next send): what an idle connection keeps is what it needs to
    /// wake up.
    /// </summary>
    /// <remarks>Default 2; range 0-86 400; 0 never trims.</remarks>
    [Range(0, 86_400)]
    public int IdleTrimSeconds { get; set; } = 2;

    /// <summary>
    /// Connections opened since the last heap compaction that make the broker compact its managed heap once the surge
    /// has settled (see <see cref="CompactHeapQuietSeconds"/>): the memory the connect storm left behind goes back to
    /// the system. One blocking collection per surge; counted in <c>iot_heap_compactions_total</c>.
    /// </summary>
    /// <remarks>Default 2000; range 0-100 000 000; 0 never compacts.</remarks>
    [Range(0, 100_000_000)]
    public int CompactHeapAfterConnections { get; set; } = 2000;

    /// <summary>
    /// Two blocking collections a second after start, before most traffic: what start-up allocated and keeps (the
    /// container, configuration, compiled routes) moves to the oldest generation at once. Otherwise the first
    /// collections under traffic promote it, pausing the broker 5-9 ms each instead of about 1.8 ms (docs/benchmarks.md,
    /// "Issue 8: what decides p99 at 2 000 msg/s"). Its pause shows in <c>iot_heap_startup_compaction_seconds</c>.
    /// </summary>
    /// <remarks>Default true.</remarks>
    public bool CompactHeapAtStart { get; set; } = true;

    /// <summary>
    /// Seconds in a row with at most 1 % of <see cref="CompactHeapAfterConnections"/> new connections each before the
    /// heap is compacted after a surge.
    /// </summary>
    /// <remarks>Default 3; range 1-3600.</remarks>
    [Range(1, 3600)]
    public int CompactHeapQuietSeconds { get; set; } = 3;

    /// <summary>Messages queued per session beyond those in flight (offline or slow clients).</summary>
    /// <remarks>Default 1000; range 1 to 10 000 000. When full, new messages for that session are dropped and counted
    /// (<c>iot_mqtt_messages_dropped_total{reason="queue_full"}</c>), as Mosquitto's max_queued_messages does.</remarks>
    [Range(1, 10_000_000)]
    public int MaxQueuedMessages { get; set; } = 1000;

    /// <summary>Most retained messages one SUBSCRIBE delivers (per topic filter); the rest are not sent.</summary>
    /// <remarks>Default 0: no limit, as Mosquitto. Range 0 to 100 000 000. Retained messages on subscribe are handed
    /// to the session as its queue and in-flight window have room, never dropped for <see cref="MaxQueuedMessages"/>;
    /// until then the subscription holds a reference to each (8 bytes a message). When it bites:
    /// <c>iot_mqtt_limit_hits_total{limit="max_retained_per_subscribe"}</c>.</remarks>
    [Range(0, 100_000_000)]
    public int MaxRetainedPerSubscribe { get; set; }

    /// <summary>Whether QoS 0 messages are queued for offline persistent sessions.</summary>
    /// <remarks>Default false (as Mosquitto's queue_qos0_messages).</remarks>
    public bool QueueQos0WhenOffline { get; set; }

    /// <summary>Longest session expiry the broker grants, seconds; MQTT 3.1.1 persistent sessions get this.</summary>
    /// <remarks>Default 4 294 967 295 (never expires).</remarks>
    public uint MaxSessionExpiryInterval { get; set; } = uint.MaxValue;

    /// <summary>Largest keep-alive the broker accepts, seconds; a larger or zero request is answered with Server Keep Alive (MQTT 5).</summary>
    /// <remarks>Default 0 (accept the client's value, including 0 = no keep-alive).</remarks>
    [Range(0, 65535)]
    public int MaxKeepAlive { get; set; }

    /// <summary>Seconds a client has to send CONNECT after its connection opens.</summary>
    /// <remarks>Default 10; range 1-3600.</remarks>
    [Range(1, 3600)]
    public int ConnectTimeoutSeconds { get; set; } = 10;

    /// <summary>Longest accepted topic name or filter, in UTF-8 bytes.</summary>
    /// <remarks>Default 65535 (the protocol limit).</remarks>
    [Range(1, 65535)]
    public int MaxTopicLength { get; set; } = 65535;

    /// <summary>Deepest accepted topic name or filter, in levels.</summary>
    /// <remarks>Default 32; range 1-1024. A deeper publish is refused (0x90), a deeper subscription gets 0x8F.</remarks>
    [Range(1, 1024)]
    public int MaxTopicLevels { get; set; } = 32;

    /// <summary>Most MQTT connections the broker holds at once.</summary>
    /// <remarks>Default 100 000; range 1 to 10 000 000. Beyond it CONNECT is refused with 0x97 (MQTT 3.1.1: 0x03).</remarks>
    [Range(1, 10_000_000)]
    public int MaxConnections { get; set; } = 100_000;

    /// <summary>Most connections one authenticated identity may hold at once (anonymous clients are not counted).</summary>
    /// <remarks>Default 16; range 1 to 1 000 000. Beyond it CONNECT is refused with 0x97 (MQTT 3.1.1: 0x03).</remarks>
    [Range(1, 1_000_000)]
    public int MaxConnectionsPerIdentity { get; set; } = 16;

    /// <summary>Most subscriptions one session may hold.</summary>
    /// <remarks>Default 256; range 1 to 1 000 000. Beyond it SUBACK carries 0x97 (MQTT 3.1.1: 0x80).</remarks>
    [Range(1, 1_000_000)]
    public int MaxSubscriptionsPerClient { get; set; } = 256;

    /// <summary>Sustained PUBLISH packets per second one client may send; above it the broker stops reading from that
    /// client until the token bucket refills (back-pressure).</summary>
    /// <remarks>Default 50 000 (far above any device, low enough to contain a runaway client); range 1 to 10 000 000.
    /// Burst: <see cref="PublishBurst"/>.</remarks>
    [Range(1, 10_000_000)]
    public int PublishRatePerSecond { get; set; } = 50_000;

    /// <summary>Token bucket size of the publish rate: how many publishes may arrive at once.</summary>
    /// <remarks>Default 100 000; range 1 to 10 000 000.</remarks>
    [Range(1, 10_000_000)]
    public int PublishBurst { get; set; } = 100_000;

    /// <summary>Hard limit: a client that keeps publishing above <see cref="PublishRatePerSecond"/> for longer than this,
    /// despite being slowed down, is disconnected with 0x96 (Message rate too high).</summary>
    /// <remarks>Default 10; range 1-3600.</remarks>
    [Range(1, 3600)]
    public int PublishThrottleMaxSeconds { get; set; } = 10;

    /// <summary>New connections per second accepted from one source address (token bucket, burst twice the rate).</summary>
    /// <remarks>Default 1000; range 1 to 1 000 000. Beyond the burst a connection is answered when its token is due, up
    /// to <see cref="ConnectRateMaxDelaySeconds"/> later; beyond that it is closed before CONNECT is read.</remarks>
    [Range(1, 1_000_000)]
    public int ConnectRatePerAddress { get; set; } = 1000;

    /// <summary>PEM file of the CA that issues device client certificates on the TLS listener; a client certificate
    /// must chain to it and its subject CN names the identity.</summary>
    /// <remarks>Default none: client certificates are not accepted for authentication.</remarks>
    public string? ClientCertificateCaPath { get; set; }

    /// <summary>Longest a connection beyond the <see cref="ConnectRatePerAddress"/> burst waits for its CONNACK before the
    /// connection is refused instead; refused connections cost the address nothing, so it can connect again at most this
    /// long after a flood from it ends.</summary>
    /// <remarks>Default 5; range 0-30 (0: refuse beyond the burst at once). A burst from one address of up to
    /// <see cref="ConnectRatePerAddress"/> times (2 + this) connections is accepted without refusal.</remarks>
    [Range(0, 30)]
    public int ConnectRateMaxDelaySeconds { get; set; } = 5;

    /// <summary>Most retained messages one device or dashboard identity may own (the last publisher of a retained
    /// topic owns it; clearing it with an empty payload frees it).</summary>
    /// <remarks>Default 1000; range 0 (no limit) to 100 000 000. A device publishes a few retained status topics under
    /// <c>devices/{id}/</c>; 1000 leaves room for any layout while one identity can no longer fill the broker's memory
    /// (retained messages are kept in memory). Over it: MQTT 5 QoS 1/2 PUBACK/PUBREC 0x97 and the message is refused;
    /// QoS 0 and MQTT 3.1.1 are delivered but not retained; <c>iot_mqtt_limit_hits_total{limit="retained_per_identity"}</c>.</remarks>
    [Range(0, 100_000_000)]
    public int MaxRetainedMessagesPerIdentity { get; set; } = 1000;

    /// <summary>Most bytes (topic, payload and properties) of retained messages one device or dashboard identity may own.</summary>
    /// <remarks>Default 16 777 216 (16 MiB: sixteen retained messages of the largest packet); range 0 (no limit) to
    /// 1 TiB. As <see cref="MaxRetainedMessagesPerIdentity"/>.</remarks>
    [Range(0L, 1L << 40)]
    public long MaxRetainedBytesPerIdentity { get; set; } = 16L << 20;

    /// <summary>Most retained messages one service identity may own: a backend may retain configuration or state for
    /// every device.</summary>
    /// <remarks>Default 100 000; range 0 (no limit) to 100 000 000. As <see cref="MaxRetainedMessagesPerIdentity"/>.</remarks>
    [Range(0, 100_000_000)]
    public int MaxRetainedMessagesPerService { get; set; } = 100_000;

    /// <summary>Most bytes of retained messages one service identity may own.</summary>
    /// <remarks>Default 268 435 456 (256 MiB); range 0 (no limit) to 1 TiB.</remarks>
    [Range(0L, 1L << 40)]
    public long MaxRetainedBytesPerService { get; set; } = 256L << 20;

    /// <summary>Most retained messages clients may own together (anonymous clients, for local development only, share
    /// one owner limited only by this and <see cref="MaxRetainedBytes"/>). Messages the broker publishes itself
    /// (aggregates) are not counted.</summary>
    /// <remarks>Default 1 000 000; range 0 (no limit) to 1 000 000 000. Over it:
    /// <c>iot_mqtt_limit_hits_total{limit="retained_total"}</c>, refused as the per-identity quotas.</remarks>
    [Range(0, 1_000_000_000)]
    public int MaxRetainedMessages { get; set; } = 1_000_000;

    /// <summary>Most bytes of retained messages clients may own together.</summary>
    /// <remarks>Default 1 073 741 824 (1 GiB); range 0 (no limit) to 1 TiB.</remarks>
    [Range(0L, 1L << 40)]
    public long MaxRetainedBytes { get; set; } = 1L << 30;

    /// <summary>Seconds between the Information summaries of refused connections (counts per reason, event 1171);
    /// each refused connection is logged at Debug (event 1012).</summary>
    /// <remarks>Default 60; range 1 to 86 400. A flood of refused connections (bad passwords, malformed CONNECTs) then
    /// writes one line a minute instead of one per connection.</remarks>
    [Range(1, 86_400)]
    public int RefusedConnectionsLogIntervalSeconds { get; set; } = 60;

    /// <summary>Most persistent sessions (session expiry above 0) one authenticated identity may own at once.</summary>
    /// <remarks>Default 100; range 1 to 10 000 000. A device owns at most one (its client id is its identity); a service
    /// runs a session per worker. Each session can hold <see cref="MaxQueuedMessages"/> messages, so this bounds what one
    /// identity can make the broker keep. Beyond it CONNECT is refused with 0x97 Quota exceeded (MQTT 3.1.1: 0x03) and
    /// <c>iot_mqtt_limit_hits_total{limit="max_persistent_sessions_per_identity"}</c> counts it. Anonymous sessions
    /// (local development) are not counted.</remarks>
    [Range(1, 10_000_000)]
    public int MaxPersistentSessionsPerIdentity { get; set; } = 100;

    /// <summary>Longest session expiry granted to each role, seconds; the smaller of this and
    /// <see cref="MaxSessionExpiryInterval"/> applies.</summary>
    /// <remarks>Defaults: Device and Service 4 294 967 295 (never expires), Dashboard 86 400 (a day: a dashboard reads
    /// live aggregates and has nothing to catch up on). Keys <c>Iot:Mqtt:MaxSessionExpiryByRole:Device</c>, <c>:Service</c>,
    /// <c>:Dashboard</c>.</remarks>
    public RoleSessionExpiry MaxSessionExpiryByRole { get; set; } = new();

    /// <summary>
    /// Milliseconds a connection the broker closes keeps reading (and discarding) what its client still sends, after
    /// its last packet (a DISCONNECT with its reason) was sent and its send side shut: closing a socket with unread input
    /// resets the connection, and the client would lose the reason. Ends early when the client closes.
    /// </summary>
    /// <remarks>Default 2000 (2 s); range 0-60 000; 0 closes at once. A client that has not closed when it ends is closed
    /// then, counted in <c>iot_mqtt_limit_hits_total{limit="close_linger"}</c>.</remarks>
    [Range(0, 60_000)]
    public int CloseLingerMilliseconds { get; set; } = 2000;

    /// <summary>
    /// Answer an MQTT 5 subscription the access rules refuse with 0x80 (Unspecified error) instead of 0x87 (Not
    /// authorized): a client then cannot tell a protected filter from any other failure, and clients or test suites
    /// that accept only 0x80 as a refusal (the Eclipse Paho interoperability suite) see one.
    /// </summary>
    /// <remarks>Default false (0x87, as Mosquitto and EMQX answer). MQTT 3.1.1 has only 0x80 and always gets it.</remarks>
    public bool DenySubscribeWithUnspecifiedError { get; set; }

    /// <summary>The longest session expiry a client of <paramref name="role"/> (null: anonymous) is granted.</summary>
    public uint MaxSessionExpiryFor(IdentityRole? role) => Math.Min(MaxSessionExpiryInterval, role switch
    {
        IdentityRole.Device => MaxSessionExpiryByRole.Device,
        IdentityRole.Service => MaxSessionExpiryByRole.Service,
        IdentityRole.Dashboard => MaxSessionExpiryByRole.Dashboard,
        _ => uint.MaxValue,
    });
}

/// <summary>The longest session expiry per identity role (<see cref="MqttOptions.MaxSessionExpiryByRole"/>), seconds.</summary>
public sealed class RoleSessionExpiry
{
    /// <summary>Devices.</summary>
    /// <remarks>Default 4 294 967 295 (never expires).</remarks>
    public uint Device { get; set; } = uint.MaxValue;

    /// <summary>Services.</summary>
    /// <remarks>Default 4 294 967 295 (never expires).</remarks>
    public uint Service { get; set; } = uint.MaxValue;

    /// <summary>Dashboards.</summary>
    /// <remarks>Default 86 400 (a day).</remarks>
    public uint Dashboard { get; set; } = 86_400;
}
