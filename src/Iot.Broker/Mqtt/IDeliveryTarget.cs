namespace Iot.Broker.Mqtt;

/// <summary>
/// Where a session hands what it sends to its client: today the client's <see cref="MqttConnection"/>, tomorrow a
/// link to the node the client is connected to. The session calls these members while it holds its own lock, to keep
/// its packets in order, so an implementation only queues: it never blocks, never waits for the network and never
/// calls back into the session or anything that takes its lock (its own queue lock is a leaf in the lock order).
/// </summary>
/// <remarks>
/// <para>
/// The contract, member by member: take at most the target's own queue lock, hold it only to add to the queue, and
/// start the sender after releasing it without running it on the calling thread (hand it to a thread or defer it to
/// a point where the caller holds no lock). <see cref="MqttConnection"/> keeps it: its <c>Enqueue</c> adds under its
/// send lock, then its <c>ScheduleWriter</c> either defers the writer to the end of the current receive batch
/// (<see cref="SendBatch"/>, run when the receive loop holds no lock) or queues it on the thread pool.
/// </para>
/// <para>
/// The sender calls the session back only while holding no lock: after a flush (<see cref="MqttSession.FeedRetained"/>)
/// and when it drops a PUBLISH the client's Maximum Packet Size refuses (<see cref="MqttSession.OnPubAck"/>,
/// <see cref="MqttSession.OnPubRec"/>). A <see cref="Delivery"/> handed over is the session's: the sender reads it
/// and sets only <see cref="Delivery.Sent"/>.
/// </para>
/// </remarks>
internal interface IDeliveryTarget
{
    /// <summary>QoS 0 messages queued and not yet written; the session stops feeding retained messages beyond a bound.</summary>
    int QueuedQos0 { get; }

    /// <summary>Queues a PUBLISH; a QoS 0 delivery beyond the target's queue limit is dropped (and counted).</summary>
    void SendPublish(Delivery delivery);

    /// <summary>Queues a QoS 0 PUBLISH of the shared message itself, with nothing of its own to carry or track.</summary>
    void SendPublishQos0(BrokerMessage message, bool retain);

    /// <summary>Queues a PUBREL for an outbound QoS 2 message the client has acknowledged with PUBREC.</summary>
    void SendPubRel(ushort packetId);
}
