namespace Iot.Broker.Mqtt;

/// <summary>Fixed-header bytes (type and flags, MQTT 3.1.1/5 §2.1.2) of the packets the broker reads or writes without MQTTnet.</summary>
internal static class PacketHeaders
{
    public const byte PubAck = 0x40;
    public const byte PubRec = 0x50;

    /// <summary>PUBREL carries the flags 0010 (§3.6.1).</summary>
    public const byte PubRel = 0x62;
    public const byte PubComp = 0x70;
    public const byte PingReq = 0xC0;

    /// <summary>The type bits of a PUBLISH (its flags are DUP, QoS and RETAIN).</summary>
    public const int PublishType = 3;
}
