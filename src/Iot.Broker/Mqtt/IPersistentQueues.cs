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

    /// <summary>
    /// Appends <paramref name="message"/> to the queue of the one persistent session <paramref name="clientId"/>, with the
    /// delivery's QoS and RETAIN flag: a shared group's message that NATS handed this node for that member (its QoS 1/2
    /// copies come only from its queue, connected or not).
    /// </summary>
    Task AppendToAsync(string clientId, BrokerMessage message, byte qos, bool retain, uint[]? subscriptionIds);
}
