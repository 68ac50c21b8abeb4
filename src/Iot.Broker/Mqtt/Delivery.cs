namespace Iot.Broker.Mqtt;

/// <summary>A message on its way to one session: the shared message plus what is particular to this subscriber.</summary>
internal sealed class Delivery
{
    public required BrokerMessage Message { get; init; }

    /// <summary>The QoS granted for this delivery: min(publish QoS, subscription QoS).</summary>
    public byte QualityOfService { get; init; }

    /// <summary>The RETAIN flag to send.</summary>
    public bool Retain { get; init; }

    /// <summary>MQTT 5 subscription identifiers of the matching subscriptions; null when none.</summary>
    public uint[]? SubscriptionIdentifiers { get; init; }

    /// <summary>Per-session sequence of a persisted delivery; 0 when not persisted.</summary>
    public long Sequence { get; set; }

    /// <summary>Packet id while in flight (QoS 1/2).</summary>
    public ushort PacketId { get; set; }

    /// <summary>QoS 2: the client sent PUBREC; only PUBREL/PUBCOMP remain.</summary>
    public bool Released { get; set; }

    /// <summary>Per-session order in which it entered the in-flight window (resends keep it).</summary>
    public long SendOrder { get; set; }

    /// <summary>The PUBLISH was written at least once (a resend sets DUP).</summary>
    public bool Sent { get; set; }

    /// <summary>
    /// For a device command: completed with true on PUBACK, false when the delivery ends without one (the
    /// connection went away, the session ended, the message expired). Commands are never kept for a resend.
    /// </summary>
    public TaskCompletionSource<bool>? Acknowledged { get; init; }
}
