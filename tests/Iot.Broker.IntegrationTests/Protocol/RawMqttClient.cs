using System.Net.Sockets;
using MQTTnet.Adapter;
using MQTTnet.Formatter;
using MQTTnet.Packets;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>
/// A bare MQTT client over a socket, for what a well-behaved client library will not do: exceed limits, send
/// malformed or duplicate packets, withhold acknowledgements, and read exactly which packets the broker sends.
/// </summary>
internal sealed class RawMqttClient : IAsyncDisposable
{
    private readonly TcpClient _tcp = new() { NoDelay = true };
    private readonly MqttPacketFormatterAdapter _formatter;
    private NetworkStream _stream = null!;

    private RawMqttClient(MqttProtocolVersion version)
    {
        _formatter = new MqttPacketFormatterAdapter(version, new MqttBufferWriter(4096, 65536));
    }

    public static async Task<RawMqttClient> ConnectTcpAsync(int port, MqttProtocolVersion version = MqttProtocolVersion.V500)
    {
        var client = new RawMqttClient(version);
        await client._tcp.ConnectAsync("127.0.0.1", port);
        client._stream = client._tcp.GetStream();
        return client;
    }

    /// <summary>Opens a socket and completes the CONNECT/CONNACK exchange.</summary>
    public static async Task<(RawMqttClient Client, MqttConnAckPacket ConnAck)> ConnectAsync(int port, MqttConnectPacket connect, MqttProtocolVersion version = MqttProtocolVersion.V500)
    {
        var client = await ConnectTcpAsync(port, version);
        await client.SendAsync(connect);
        var connack = await client.ReceiveAsync(TimeSpan.FromSeconds(10)) as MqttConnAckPacket
            ?? throw new InvalidOperationException("no CONNACK");
        return (client, connack);
    }

    public async Task SendAsync(MqttPacket packet)
    {
        var buffer = _formatter.Encode(packet);
        await _stream.WriteAsync(buffer.Join());
        _formatter.Cleanup();
    }

    /// <summary>The bytes of <paramref name="packet"/>, to send in pieces.</summary>
    public byte[] Encode(MqttPacket packet)
    {
        var bytes = _formatter.Encode(packet).Join().ToArray();
        _formatter.Cleanup();
        return bytes;
    }

    /// <summary>Closes the sending side only (a FIN): the broker sees a half-closed connection.</summary>
    public void ShutdownSend() => _tcp.Client.Shutdown(SocketShutdown.Send);

    /// <summary>Encodes several packets and writes them in one go (one TCP segment where possible).</summary>
    public async Task SendBurstAsync(IEnumerable<MqttPacket> packets)
    {
        using var all = new MemoryStream();
        foreach (var packet in packets)
        {
            var buffer = _formatter.Encode(packet);
            all.Write(buffer.Join());
            _formatter.Cleanup();
        }

        await _stream.WriteAsync(all.ToArray());
    }

    public Task SendRawAsync(byte[] bytes) => _stream.WriteAsync(bytes).AsTask();

    /// <summary>The next packet, or null when the broker closed the connection or nothing came within <paramref name="timeout"/>.</summary>
    public async Task<MqttPacket?> ReceiveAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            var header = new byte[1];
            if (!await ReadExactlyAsync(header, cts.Token))
            {
                return null;
            }

            var length = 0;
            var multiplier = 1;
            var one = new byte[1];
            do
            {
                if (!await ReadExactlyAsync(one, cts.Token))
                {
                    return null;
                }

                length += (one[0] & 0x7F) * multiplier;
                multiplier *= 128;
            }
            while ((one[0] & 0x80) != 0);

            var body = new byte[length];
            if (length > 0 && !await ReadExactlyAsync(body, cts.Token))
            {
                return null;
            }

            return _formatter.Decode(new ReceivedMqttPacket(header[0], new ArraySegment<byte>(body), length + 2));
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Exactly <paramref name="count"/> raw bytes, or null on close or timeout.</summary>
    public async Task<byte[]?> ReceiveBytesAsync(int count, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[count];
        try
        {
            return await ReadExactlyAsync(buffer, cts.Token) ? buffer : null;
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }

    /// <summary>Reads packets until one of type <typeparamref name="T"/> arrives; null on close or timeout.</summary>
    public async Task<T?> ReceiveAsync<T>(TimeSpan timeout)
        where T : MqttPacket
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var packet = await ReceiveAsync(deadline - DateTime.UtcNow);
            if (packet is null)
            {
                return null;
            }

            if (packet is T match)
            {
                return match;
            }
        }

        return null;
    }

    /// <summary>True when the broker closed the connection within <paramref name="timeout"/> (reading past any packets).</summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                if (await _stream.ReadAsync(buffer, cts.Token) == 0)
                {
                    return true;
                }
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<bool> ReadExactlyAsync(byte[] buffer, CancellationToken cancellationToken)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await _stream.ReadAsync(buffer.AsMemory(read), cancellationToken);
            if (n == 0)
            {
                return false;
            }

            read += n;
        }

        return true;
    }
}
