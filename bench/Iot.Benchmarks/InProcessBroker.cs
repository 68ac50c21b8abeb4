using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using Iot.Broker.Hosting;
using Iot.Broker.Mqtt;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Benchmarks;

/// <summary>
/// The whole broker (default configuration: routing layer, streams, ACL) hosted in process, with MQTT connections
/// over in-memory pipes instead of sockets, so a benchmark measures the broker's own work per message.
/// </summary>
internal sealed class InProcessBroker : IAsyncDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"iot-bench-{Guid.NewGuid():N}");
    private readonly WebApplication _app;
    private readonly MqttConnectionHandler _handler;
    private readonly List<PipeClient> _clients = [];

    public InProcessBroker()
    {
        _app = BrokerHost.Create(
        [
            "--Iot:Mqtt:Port=0", "--Iot:Http:Port=0", $"--Iot:DataDir={_directory}", "--Iot:Security:AllowAnonymous=true",
            "--Logging:LogLevel:Default=Warning",

            // One benchmark publisher sends far more than the per-client default (50 000/s); the limit is not measured here.
            "--Iot:Mqtt:PublishRatePerSecond=10000000", "--Iot:Mqtt:PublishBurst=10000000",
        ]);
        _app.StartAsync().GetAwaiter().GetResult();
        _handler = _app.Services.GetRequiredService<MqttConnectionHandler>();
    }

    public IServiceProvider Services => _app.Services;

    /// <summary>Opens an MQTT 3.1.1 connection (clean session) and waits for its CONNACK.</summary>
    public PipeClient Connect(string clientId)
    {
        var client = new PipeClient();
        _clients.Add(client);
        client.Run = _handler.OnConnectedAsync(client.Context);
        client.Write(Packets.Connect(clientId));
        client.WaitFor(PacketKind.ConnAck, 1);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }

        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        Directory.Delete(_directory, recursive: true);
    }
}

internal enum PacketKind
{
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    SubAck = 9,
}

/// <summary>
/// A client on in-memory pipes. Its read loop counts packets by type and acknowledges QoS 1 deliveries at once, as
/// the load tool's subscriber does.
/// </summary>
internal sealed class PipeClient : IAsyncDisposable
{
    private readonly Pipe _toBroker = new(new PipeOptions(useSynchronizationContext: false));
    private readonly Pipe _fromBroker = new(new PipeOptions(useSynchronizationContext: false));
    private readonly long[] _counts = new long[16];
    private readonly Task _reader;
    private readonly Lock _writeGate = new();
    private readonly byte[] _ack = new byte[4];
    private TaskCompletionSource? _waiter;
    private PacketKind _waitKind;
    private long _waitTarget;

    public PipeClient()
    {
        Context = new DefaultConnectionContext(Guid.NewGuid().ToString("N"),
            new DuplexPipe(_toBroker.Reader, _fromBroker.Writer), new DuplexPipe(_fromBroker.Reader, _toBroker.Writer));
        _reader = Task.Run(ReadLoopAsync);
    }

    public ConnectionContext Context { get; }

    public Task? Run { get; set; }

    public long Count(PacketKind kind) => Volatile.Read(ref _counts[(int)kind]);

    public void Write(ReadOnlySpan<byte> bytes)
    {
        lock (_writeGate)
        {
            _toBroker.Writer.Write(bytes);
            _toBroker.Writer.FlushAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>Blocks until <paramref name="target"/> packets of <paramref name="kind"/> arrived in total.</summary>
    public void WaitFor(PacketKind kind, long target)
    {
        if (Count(kind) >= target)
        {
            return;
        }

        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_writeGate)
        {
            _waitKind = kind;
            _waitTarget = target;
            Volatile.Write(ref _waiter, waiter);
        }

        if (Count(kind) >= target)
        {
            waiter.TrySetResult();
        }

        if (!waiter.Task.Wait(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException($"{Count(kind)} of {target} {kind} packets after 30 s");
        }
    }

    private async Task ReadLoopAsync()
    {
        var reader = _fromBroker.Reader;
        while (true)
        {
            var result = await reader.ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            var acks = 0;
            while (TryReadPacket(ref buffer, out var header, out var body))
            {
                var kind = header >> 4;
                _counts[kind]++;
                if (kind == (int)PacketKind.Publish && (header & 0x06) == 0x02)
                {
                    var reader2 = new SequenceReader<byte>(body);
                    reader2.TryReadBigEndian(out short topicLength);
                    reader2.Advance(topicLength);
                    reader2.TryReadBigEndian(out short packetId);
                    _ack[0] = 0x40;
                    _ack[1] = 2;
                    _ack[2] = (byte)(packetId >> 8);
                    _ack[3] = (byte)packetId;
                    lock (_writeGate)
                    {
                        _toBroker.Writer.Write(_ack);
                    }

                    acks++;
                }
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
            if (acks > 0)
            {
                await _toBroker.Writer.FlushAsync().ConfigureAwait(false);
            }

            if (Volatile.Read(ref _waiter) is { } waiter && Count(_waitKind) >= _waitTarget)
            {
                waiter.TrySetResult();
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                return;
            }
        }
    }

    private static bool TryReadPacket(ref ReadOnlySequence<byte> buffer, out byte header, out ReadOnlySequence<byte> body)
    {
        body = default;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryRead(out header))
        {
            return false;
        }

        int length = 0, shift = 0;
        byte b;
        do
        {
            if (!reader.TryRead(out b))
            {
                return false;
            }

            length |= (b & 0x7F) << shift;
            shift += 7;
        }
        while ((b & 0x80) != 0);

        if (reader.Remaining < length)
        {
            return false;
        }

        body = buffer.Slice(reader.Position, length);
        buffer = buffer.Slice(body.End);
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await _toBroker.Writer.CompleteAsync().ConfigureAwait(false);
        if (Run is not null)
        {
            await Run.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }

        await _fromBroker.Writer.CompleteAsync().ConfigureAwait(false);
        await _reader.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}

/// <summary>Hand-encoded MQTT 3.1.1 packets (as the load tool sends them).</summary>
internal static class Packets
{
    public static byte[] Connect(string clientId)
    {
        var id = Encoding.UTF8.GetBytes(clientId);
        byte[] variable = [0, 4, (byte)'M', (byte)'Q', (byte)'T', (byte)'T', 4, 0x02, 0, 60];
        var body = new List<byte>(variable) { (byte)(id.Length >> 8), (byte)id.Length };
        body.AddRange(id);
        return Frame(0x10, body);
    }

    public static byte[] Subscribe(string filter, byte qos)
    {
        var topic = Encoding.UTF8.GetBytes(filter);
        var body = new List<byte> { 0, 1, (byte)(topic.Length >> 8), (byte)topic.Length };
        body.AddRange(topic);
        body.Add(qos);
        return Frame(0x82, body);
    }

    public static byte[] Publish(string topicName, ReadOnlySpan<byte> payload, byte qos, ushort packetId)
    {
        var topic = Encoding.UTF8.GetBytes(topicName);
        var body = new List<byte> { (byte)(topic.Length >> 8), (byte)topic.Length };
        body.AddRange(topic);
        if (qos > 0)
        {
            body.Add((byte)(packetId >> 8));
            body.Add((byte)packetId);
        }

        body.AddRange(payload.ToArray());
        return Frame((byte)(0x30 | (qos << 1)), body);
    }

    private static byte[] Frame(byte header, List<byte> body)
    {
        var packet = new List<byte> { header };
        var length = body.Count;
        do
        {
            var b = (byte)(length % 128);
            length /= 128;
            packet.Add(length > 0 ? (byte)(b | 0x80) : b);
        }
        while (length > 0);

        packet.AddRange(body);
        return [.. packet];
    }
}
