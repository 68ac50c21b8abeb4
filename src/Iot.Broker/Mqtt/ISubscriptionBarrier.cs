namespace Iot.Broker.Mqtt;

/// <summary>
/// What a SUBSCRIBE waits for before its SUBACK in cluster mode (implemented in <c>Cluster/Live</c>, absent in
/// single-process mode, where a subscription in the index is seen by every later publish at once).
/// </summary>
internal interface ISubscriptionBarrier
{
    /// <summary>
    /// Completes when every live node of the cluster sees the subscriptions this node has made so far: their NATS
    /// interest reached the other nodes' servers and the persistent sessions' records written so far are in every node's
    /// index, so that a message any node accepts from now on reaches them. Waits at most
    /// <c>Iot:Cluster:SubscribeSyncTimeout</c>, never throws: a node that does not answer in time is counted and the
    /// SUBSCRIBE goes on.
    /// </summary>
    Task WhenVisibleAsync();
}
