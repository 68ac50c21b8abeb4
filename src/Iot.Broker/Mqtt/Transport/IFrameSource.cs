namespace Iot.Broker.Mqtt.Transport;

/// <summary>A transport's received bytes, cut into MQTT packets one at a time (<see cref="FrameHandling"/> drives it).</summary>
internal interface IFrameSource
{
    /// <summary>
    /// Frames the next packet and takes it off the received bytes. The small packets of a publish flow are handled
    /// where they lie (<see cref="MqttConnection.TryHandleInline"/>: <see cref="FramingStatus.Handled"/>); any other
    /// packet's body is copied into an array of its own for the connection (a PUBLISH's payload lives on in it).
    /// <see cref="FramingStatus.NeedMoreData"/> when no whole packet is left.
    /// </summary>
    FramingStatus NextFrame(MqttConnection connection, int maxPacketSize, out byte header, out byte[] body, out int total);
}
