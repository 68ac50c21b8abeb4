using System.Buffers;
using BenchmarkDotNet.Attributes;
using Iot.Broker.Mqtt;
using MQTTnet.Adapter;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Benchmarks;

/// <summary>
/// The per-packet codec work of a connection: an inbound PUBLISH framed by <see cref="PacketFraming"/> and decoded by
/// MQTTnet's formatter (as the receive loop does), and an outbound PUBLISH built and encoded into a pipe-like buffer
/// (as the writer loop does). MQTT 3.1.1, topic <c>bench/fanin/p1</c>, 64-byte payload.
/// </summary>
[MemoryDiagnoser]
public class PacketCodecBenchmarks
{
    private readonly MqttPacketFormatterAdapter _decoder = new(MqttProtocolVersion.V311, new MqttBufferWriter(4096, 65536));
    private readonly MqttPacketFormatterAdapter _encoder = new(MqttProtocolVersion.V311, new MqttBufferWriter(4096, 65536));
    private readonly ArrayBufferWriter<byte> _output = new(1 << 16);
    private readonly byte[] _payload = new byte[64];
    private byte[] _qos0 = [];
    private byte[] _qos1 = [];

    /// <summary>Encodes the inbound packets once.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _qos0 = Encode(new MqttPublishPacket { Topic = "bench/fanin/p1", Payload = new ReadOnlySequence<byte>(_payload) });
        _qos1 = Encode(new MqttPublishPacket
        {
            Topic = "bench/fanin/p1",
            Payload = new ReadOnlySequence<byte>(_payload),
            QualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce,
            PacketIdentifier = 7,
        });
    }

    /// <summary>Frames and decodes a QoS 0 PUBLISH.</summary>
    [Benchmark]
    public MqttPacket DecodePublishQos0() => Decode(_qos0);

    /// <summary>Frames and decodes a QoS 1 PUBLISH.</summary>
    [Benchmark]
    public MqttPacket DecodePublishQos1() => Decode(_qos1);

    /// <summary>Builds and encodes an outbound QoS 0 PUBLISH with MQTTnet and copies it to the output (the writer loop before issue 8).</summary>
    [Benchmark(Baseline = true)]
    public int EncodePublishQos0()
    {
        var packet = new MqttPublishPacket { Topic = "bench/fanin/p1", Payload = new ReadOnlySequence<byte>(_payload) };
        var encoded = _encoder.Encode(packet);
        _output.ResetWrittenCount();
        _output.Write(encoded.Packet);
        foreach (var segment in encoded.Payload)
        {
            _output.Write(segment.Span);
        }

        _encoder.Cleanup();
        return encoded.Length;
    }

    /// <summary>The same PUBLISH written directly into the output by <see cref="PublishEncoder"/> (MQTT 3.1.1 today).</summary>
    [Benchmark]
    public int EncodePublishQos0Direct()
    {
        _output.ResetWrittenCount();
        return PublishEncoder.WriteV311(_output, "bench/fanin/p1", _payload, qos: 0, retain: false, dup: false, packetId: 0);
    }

    private MqttPacket Decode(byte[] bytes)
    {
        var buffer = new ReadOnlySequence<byte>(bytes);
        PacketFraming.TryRead(ref buffer, 1 << 20, out var header, out var body, out var total);
        return _decoder.Decode(new ReceivedMqttPacket(header, new ArraySegment<byte>(body), total));
    }

    private byte[] Encode(MqttPublishPacket packet)
    {
        var encoded = _encoder.Encode(packet);
        var bytes = new byte[encoded.Length];
        encoded.Packet.AsSpan().CopyTo(bytes);
        encoded.Payload.CopyTo(bytes.AsSpan(encoded.Packet.Count));
        _encoder.Cleanup();
        return bytes;
    }
}
