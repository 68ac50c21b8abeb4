namespace Iot.Broker.Mqtt;

/// <summary>
/// The acknowledgement owed for one inbound QoS 1/2 PUBLISH: PUBACK or PUBREC for <paramref name="PacketId"/>, sent
/// once <paramref name="Durable"/> (the message's durable writes) completed; <paramref name="Denied"/> when the
/// publish was refused (ACL, or <paramref name="QuotaExceeded"/>: the retained quota).
/// </summary>
internal readonly record struct PendingAck(ushort PacketId, byte Qos, Task Durable, bool Denied = false, bool QuotaExceeded = false);
