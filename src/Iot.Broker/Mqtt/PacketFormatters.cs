using MQTTnet.Formatter;

namespace Iot.Broker.Mqtt;

/// <summary>
/// MQTTnet's packet formatters, one per protocol version and thread. Encoding and decoding are synchronous and hold
/// nothing between calls (after <see cref="MqttPacketFormatterAdapter.Cleanup"/>), so a connection needs only its
/// protocol version, not a formatter and buffers of its own: an idle connection is about 400 bytes lighter.
/// </summary>
internal static class PacketFormatters
{
    [ThreadStatic]
    private static MqttPacketFormatterAdapter?[]? t_byVersion;

    [ThreadStatic]
    private static MqttPacketFormatterAdapter? t_detector;

    /// <summary>The formatter of <paramref name="version"/> for this thread; use and clean up before any await.</summary>
    public static MqttPacketFormatterAdapter For(MqttProtocolVersion version)
    {
        var formatters = t_byVersion ??= new MqttPacketFormatterAdapter?[(int)MqttProtocolVersion.V500 + 1];
        return formatters[(int)version] ??= new MqttPacketFormatterAdapter(version, NewWriter());
    }

    /// <summary>A formatter of unknown version for a CONNECT: its version is set by <see cref="MqttPacketFormatterAdapter.DetectProtocolVersion"/>.</summary>
    public static MqttPacketFormatterAdapter Detector => t_detector ??= new MqttPacketFormatterAdapter(NewWriter());

    // Holds only a packet's header and properties (payloads are written from their own memory): it starts small, grows
    // for larger packets and shrinks back past 64 kB.
    private static MqttBufferWriter NewWriter() => new(128, 65536);
}
