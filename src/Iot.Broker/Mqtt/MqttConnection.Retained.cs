namespace Iot.Broker.Mqtt;

internal sealed partial class MqttConnection
{
    /// <summary>QoS 0 PUBLISH packets handed to this connection and not written yet (bounded by MaxQueuedMessages).</summary>
    public int QueuedQos0 => Volatile.Read(ref _queuedQos0);

    /// <summary>The writer flushed a burst: the session may send more retained messages owed since a SUBSCRIBE.</summary>
    private void OnOutboundFlushed() => _session?.FeedRetained(this);
}
