namespace Iot.Broker.Mqtt;

/// <summary>
/// The acknowledgement owed for one inbound PUBLISH: PUBACK or PUBREC for <paramref name="PacketId"/>, sent
/// once <paramref name="Durable"/> (the message's durable writes) completed; <paramref name="Denied"/> when the
/// publish was refused (ACL, or <paramref name="QuotaExceeded"/>: the retained quota). A QoS 0 one is sent to nobody: it
/// only waits for its writes. <paramref name="BacklogBytes"/>: the publish is counted in the <see cref="DurableBacklog"/>
/// with that many payload bytes until its writes are done (-1: not counted).
/// </summary>
internal readonly record struct PendingAck(ushort PacketId, byte Qos, Task Durable, bool Denied = false, bool QuotaExceeded = false, int BacklogBytes = -1);
