using Iot.Broker.Mqtt;

namespace Iot.Broker.Cluster.Live;

/// <summary>
/// The publish path's way out to the other nodes in cluster mode (<see cref="MessageDispatcher"/> holds it only then: in
/// single-process mode it is null and costs a null test).
/// </summary>
internal interface ILiveLink
{
    /// <summary>
    /// Sends a message this node accepted (and has delivered to its own non-shared subscriptions) to the other nodes and
    /// to every shared group; returns at once (at most once across nodes: nothing waits for it).
    /// </summary>
    void Publish(BrokerMessage message, string? publisherClientId);
}
