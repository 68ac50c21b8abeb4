namespace Iot.Broker.Mqtt;

/// <summary>
/// Cluster mode: what a message accepted on this node owes the rest of the cluster besides the live hop to the other
/// nodes' subscribers. A QoS 1/2 copy goes to the JetStream queue of each matching persistent session, whatever node it
/// is bound to (or none), and each matching shared group gets the message once, through a member this node picks among
/// all the group's members in the cluster. The publisher's acknowledgement waits for the returned task, so an
/// acknowledged message is in every queue it is owed to even if every broker dies.
/// </summary>
internal interface IClusterFanOut
{
    /// <summary>Fans <paramref name="message"/> out; the task completes once every durable copy is stored (JetStream acknowledged).</summary>
    Task FanOutAsync(BrokerMessage message, string? publisherClientId);
}
