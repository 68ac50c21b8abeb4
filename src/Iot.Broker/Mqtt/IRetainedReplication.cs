namespace Iot.Broker.Mqtt;

/// <summary>
/// Where retained messages live in cluster mode (<c>Cluster/Retained/RetainedStream</c>): a replicated log that every
/// node's <see cref="RetainedMessages"/> is fed from, in the log's order, instead of the local session store.
/// </summary>
internal interface IRetainedReplication
{
    /// <summary>
    /// Writes a set, or (empty payload) a clear, of <paramref name="message"/>'s topic, charged to
    /// <paramref name="owner"/> (an identity id; null for the broker's own messages). Completes when the log
    /// acknowledged it, faults when it did not in time. The index changes when the write comes back through the feed,
    /// on this node as on every other.
    /// </summary>
    Task WriteAsync(BrokerMessage message, string? owner);

    /// <summary>
    /// Completes when this node's index holds every retained change the log acknowledged before the call, and every
    /// write this node started before it; faults with a <see cref="TimeoutException"/> when that takes longer than the
    /// cluster's request timeout (the SUBSCRIBE is then refused rather than served stale values).
    /// </summary>
    Task WhenCurrentAsync();
}
