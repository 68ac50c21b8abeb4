using BenchmarkDotNet.Attributes;

namespace Iot.Benchmarks;

/// <summary>
/// The publish path of the full broker (default configuration: routing layer on, default route, telemetry stream
/// route, topic ACL) for one publisher and one subscriber, in process over in-memory pipes: frame, decode, ACL,
/// dispatch, routing offer, encode, write, and for QoS 1 the PUBACK to the publisher and the subscriber's PUBACK.
/// Each invocation sends a burst of 1 000 PUBLISH packets (topic <c>bench/fanin/p1</c>, 64-byte payload, as the
/// load tool's fan-in) and waits until the subscriber has them all; figures are per message.
/// </summary>
[MemoryDiagnoser]
#pragma warning disable CA1001 // Disposed in the [GlobalCleanup] method.
public class PublishPathBenchmarks
#pragma warning restore CA1001
{
    private const int Burst = 1000;
    private InProcessBroker _broker = null!;
    private PipeClient _publisher = null!;
    private PipeClient _subscriber = null!;
    private byte[] _burst = [];
    private long _sent;

    /// <summary>QoS of the publishes and of the subscription.</summary>
    [Params(0, 1)]
    public byte Qos { get; set; }

    /// <summary>Starts the broker, connects both clients and subscribes.</summary>
    [GlobalSetup]
    public void Setup()
    {
        _broker = new InProcessBroker();
        _subscriber = _broker.Connect("bench-sub");
        _subscriber.Write(Packets.Subscribe("bench/fanin/#", Qos));
        _subscriber.WaitFor(PacketKind.SubAck, 1);
        _publisher = _broker.Connect("bench-pub");
        var payload = new byte[64];
        using var stream = new MemoryStream();
        for (int i = 0; i < Burst; i++)
        {
            stream.Write(Packets.Publish("bench/fanin/p1", payload, Qos, (ushort)(i + 1)));
        }

        _burst = stream.ToArray();
        _sent = 0;
    }

    /// <summary>Stops the broker.</summary>
    [GlobalCleanup]
    public void Cleanup() => _broker.DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>One burst of publishes through the broker to the subscriber.</summary>
    [Benchmark(OperationsPerInvoke = Burst)]
    public void PublishToOneSubscriber()
    {
        _publisher.Write(_burst);
        _sent += Burst;
        _subscriber.WaitFor(PacketKind.Publish, _sent);
        if (Qos > 0)
        {
            _publisher.WaitFor(PacketKind.PubAck, _sent);
        }
    }
}
