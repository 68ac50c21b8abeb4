namespace Iot.Broker.Mqtt;

/// <summary>
/// Cluster mode: the queues of persistent sessions in JetStream, whatever node they are bound to (or none). The node a
/// message is published on appends one copy per matching persistent session; the publisher's acknowledgement waits for
/// the returned task, so an acknowledged message is in every matching session's queue even if every broker dies.
/// </summary>
internal interface IPersistentQueues
{
    /// <summary>Appends <paramref name="message"/> (QoS 1/2) to the queue of every persistent session that subscribes to it.</summary>
    Task AppendAsync(BrokerMessage message, string? publisherClientId);
}
