namespace Iot.Broker.Mqtt;

/// <summary>
/// The broker's plain counters (<see cref="BrokerMetrics.Add"/>). Each is declared here and named and described once in
/// <see cref="BrokerCounters.Describe"/>, which is what <c>/metrics</c> renders.
/// </summary>
internal enum BrokerCounter
{
    ConnectionsAccepted,
    ConnectRejected,
    MessagesReceived,
    MessagesSent,
    BytesReceived,
    BytesSent,
    MessagesUnmatched,
    ProtocolErrors,
    PacketTooLarge,
    ReceiveMaximumExceeded,
    KeepAliveTimeouts,
    SessionsExpired,
    WillsPublished,
    AuthenticationFailures,
    ClientIdRefused,
    PublishDenied,
    SubscribeDenied,
    HeapCompactions,
    ClusterRetainedSubscribeRefused,
    ClusterSubscribeSyncTimeouts,
    ClusterRetainedWriteFailures,
    ClusterLivePublished,
    ClusterLiveReceived,
    ClusterLiveDuplicates,
    ClusterLiveLost,
}

/// <summary>The Prometheus name and help text of each <see cref="BrokerCounter"/>.</summary>
internal static class BrokerCounters
{
    /// <summary>Every counter, in the order <c>/metrics</c> lists them.</summary>
    public static readonly BrokerCounter[] All = Enum.GetValues<BrokerCounter>();

    public static (string Name, string Help) Describe(BrokerCounter counter) => counter switch
    {
        BrokerCounter.ConnectionsAccepted => ("iot_mqtt_connections_total", "MQTT connections accepted since start."),
        BrokerCounter.ConnectRejected => ("iot_mqtt_connect_rejected_total", "CONNECTs refused (authentication, bad client id, malformed)."),
        BrokerCounter.MessagesReceived => ("iot_mqtt_messages_received_total", "PUBLISH packets received from clients."),
        BrokerCounter.MessagesSent => ("iot_mqtt_messages_sent_total", "PUBLISH packets sent to clients."),
        BrokerCounter.BytesReceived => ("iot_mqtt_bytes_received_total", "MQTT bytes received."),
        BrokerCounter.BytesSent => ("iot_mqtt_bytes_sent_total", "MQTT bytes sent."),
        BrokerCounter.MessagesUnmatched => ("iot_mqtt_messages_unmatched_total", "Published messages no subscription matched."),
        BrokerCounter.ProtocolErrors => ("iot_mqtt_protocol_errors_total", "Connections closed for a protocol violation."),
        BrokerCounter.PacketTooLarge => ("iot_mqtt_packet_too_large_total", "Inbound packets over Iot:Mqtt:MaxPacketSize."),
        BrokerCounter.ReceiveMaximumExceeded => ("iot_mqtt_receive_maximum_exceeded_total", "Clients disconnected for exceeding Iot:Mqtt:ReceiveMaximum."),
        BrokerCounter.KeepAliveTimeouts => ("iot_mqtt_keepalive_timeouts_total", "Connections closed because keep-alive ran out."),
        BrokerCounter.SessionsExpired => ("iot_mqtt_sessions_expired_total", "Sessions ended by their expiry interval."),
        BrokerCounter.WillsPublished => ("iot_mqtt_wills_published_total", "Will messages published."),
        BrokerCounter.AuthenticationFailures => ("iot_mqtt_authentication_failures_total", "CONNECTs with wrong credentials, unknown or disabled identities, or bad client certificates."),
        BrokerCounter.ClientIdRefused => ("iot_mqtt_client_id_refused_total", "CONNECTs refused with 0x85 because the client id belongs to another identity (a registered identity's id, or a session another identity owns)."),
        BrokerCounter.PublishDenied => ("iot_mqtt_publish_denied_total", "Publishes refused by the access-control rules."),
        BrokerCounter.SubscribeDenied => ("iot_mqtt_subscribe_denied_total", "Subscriptions refused by the access-control rules."),
        BrokerCounter.HeapCompactions => ("iot_heap_compactions_total", "Heap compactions after connection surges (Iot:Mqtt:CompactHeapAfterConnections)."),
        BrokerCounter.ClusterSubscribeSyncTimeouts => ("iot_cluster_subscribe_sync_timeouts_total", "SUBACKs sent without every live node confirming within Iot:Cluster:SubscribeSyncTimeout that it knows the subscription."),
        BrokerCounter.ClusterRetainedSubscribeRefused => ("iot_cluster_retained_subscribe_refused_total", "SUBSCRIBEs refused (0x80) because the retained index could not catch up with the cluster within Iot:Cluster:RequestTimeout."),
        BrokerCounter.ClusterRetainedWriteFailures => ("iot_cluster_retained_write_failures_total", "Retained messages JetStream did not acknowledge in time (the publisher is not acknowledged)."),
        BrokerCounter.ClusterLivePublished => ("iot_cluster_live_published_total", "Cluster mode: messages this node sent to the other nodes on core NATS."),
        BrokerCounter.ClusterLiveReceived => ("iot_cluster_live_received_total", "Cluster mode: messages from other nodes (and shared-group messages) this node delivered to its sessions."),
        BrokerCounter.ClusterLiveDuplicates => ("iot_cluster_live_duplicates_total", "Cluster mode: extra copies of a message that overlapping NATS subscriptions brought, dropped (one delivery per node)."),
        BrokerCounter.ClusterLiveLost => ("iot_cluster_live_lost_total", "Cluster mode: live messages lost on the way between nodes (publish failed, unreadable, or a shared group's picked member and every other member on its node had left)."),
        _ => throw new ArgumentOutOfRangeException(nameof(counter)),
    };
}
