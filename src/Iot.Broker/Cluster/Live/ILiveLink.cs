using Iot.Broker.Mqtt;

namespace Iot.Broker.Cluster.Live;

/// <summary>
/// The publish path's way out to the other nodes in cluster mode (<see cref="MessageDispatcher"/> holds it only then: in
/// single-process mode it is null and costs a null test).
/// </summary>
internal interface ILiveLink
{
    /// <summary>
    /// Sends a message this node accepted (and has delivered to its own non-shared subscriptions) to the other nodes'
    /// non-shared subscriptions; returns at once (at most once across nodes: nothing waits for it).
    /// </summary>
    void Publish(BrokerMessage message, string? publisherClientId);

    /// <summary>
    /// Sends a shared group's message to the member this node picked, on <paramref name="node"/> (this one included);
    /// returns at once, at most once like <see cref="Publish"/>, and in the same order as the messages published before.
    /// </summary>
    void SendToMember(string node, string share, string filter, string clientId, BrokerMessage message);
}
