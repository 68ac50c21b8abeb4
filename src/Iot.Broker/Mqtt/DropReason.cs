namespace Iot.Broker.Mqtt;

/// <summary>Why a message was not delivered to a subscriber (or a route). Each reason is a label of <c>iot_mqtt_messages_dropped_total</c>.</summary>
internal enum DropReason
{
    /// <summary>The session's queue held <see cref="MqttOptions.MaxQueuedMessages"/> messages.</summary>
    QueueFull,

    /// <summary>The message expired (MQTT 5 Message Expiry Interval) before it could be sent.</summary>
    Expired,

    /// <summary>The packet exceeded the Maximum Packet Size the client announced.</summary>
    PacketTooLarge,

    /// <summary>A QoS 0 message for a session that is not connected.</summary>
    Offline,

    /// <summary>
    /// A QoS 0 publish not offered to the routes (streams, queues, event subscriptions) because the
    /// <see cref="DurableBacklog"/> was full, or its connection already had <see cref="MqttOptions.ReceiveMaximum"/>
    /// publishes waiting for durable writes; its subscribers still got it.
    /// </summary>
    DurableBacklog,
}
