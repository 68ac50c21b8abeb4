using NATS.Client.KeyValueStore;

namespace Iot.Messaging.JetStream;

/// <summary>
/// The idle heartbeat of every long-lived consumer a node keeps: the key-value watches that hold its view of a bucket
/// (queue indexes, routing deliveries and definitions, session records, identities, the node list, stream definitions
/// and groups, a command's <c>wait</c>) and the ordered reads that follow a stream (retained messages, stream
/// partitions). Such a consumer lives on one NATS server; when that server dies, NATS.Net notices only when two
/// heartbeats are missing, and then makes the consumer again from the last revision it delivered. With the client's
/// default of 5 s a node was blind to the other nodes' writes for 10 to 20 s after a NATS server died (a queue message
/// another node stored was not offered here meanwhile); with 1 s it was 7 to 12 s in the same test
/// (<c>JetStreamQueueWatchFailoverTests</c>), the rest being the consumer's re-creation, for one small message per
/// consumer and second.
/// </summary>
public static class WatchHeartbeat
{
    /// <summary>One second.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    /// <summary>Key-value watch options with <see cref="Interval"/>; a caller adds its own with <c>with { ... }</c>.</summary>
    public static NatsKVWatchOpts Options { get; } = new() { IdleHeartbeat = Interval };
}
