namespace Iot.Messaging.JetStream;

/// <summary>
/// The idle heartbeat of the key-value watches that keep a node's view of a bucket (queue indexes, routing deliveries
/// and definitions, session records, identities). A watch is an ephemeral consumer on one NATS server; when that server
/// dies, NATS.Net notices only when two heartbeats are missing, and then makes the consumer again from the last
/// revision it delivered. With the client's default of 5 s the node was blind to the other nodes' writes for 10 to 20 s
/// after a NATS server died (a queue message another node stored was not offered here meanwhile); with 1 s it was 7 to
/// 12 s in the same test (<c>JetStreamQueueWatchFailoverTests</c>), the rest being the consumer's re-creation, for one
/// small message per watch and second.
/// </summary>
public static class WatchHeartbeat
{
    /// <summary>One second.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);
}
