using System.Net;
using System.Net.Sockets;

namespace Iot.LoadTool;

/// <summary>Receives whole packets from a read loop; called on the loop's thread.</summary>
internal interface IPacketSink
{
    void OnPacket(byte header, ReadOnlySpan<byte> body);

    /// <summary>Called once per socket read, after every complete packet in it was handed to <see cref="OnPacket"/>.</summary>
    ValueTask OnBatchEndAsync(CancellationToken cancellationToken);
}

/// <summary>One raw TCP connection speaking just enough MQTT 3.1.1 for the load tool.</summary>
internal sealed class MqttConnection : IDisposable
{
    private readonly Socket _socket;
    private byte[] _buffer;
    private int _start;
    private int _end;

    private MqttConnection(Socket socket, int bufferSize, int protocolLevel = 4)
    {
        _socket = socket;
        _buffer = new byte[bufferSize];
        ProtocolLevel = protocolLevel;
    }

    /// <summary>4 for MQTT 3.1.1, 5 for MQTT 5.0.</summary>
    public int ProtocolLevel { get; }

    public static Task<MqttConnection> ConnectAsync(string host, int port, string clientId, CancellationToken cancellationToken) =>
        ConnectAsync(host, port, clientId, new ConnectSettings(), cancellationToken);

    /// <summary>Connects (optionally from <see cref="ConnectSettings.LocalAddress"/>), sends CONNECT and waits for a successful CONNACK.</summary>
    public static async Task<MqttConnection> ConnectAsync(string host, int port, string clientId, ConnectSettings settings, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (settings.ReceiveBufferSize is { } receiveBuffer)
        {
            socket.ReceiveBufferSize = receiveBuffer;
        }

        var connection = new MqttConnection(socket, settings.ReadBufferSize, settings.ProtocolLevel);
        try
        {
            if (settings.LocalAddress is { } local)
            {
                socket.Bind(new IPEndPoint(local, 0));
            }

            await socket.ConnectAsync(host, port, cancellationToken);
            await connection.SendAsync(
                MqttWire.Connect(clientId, settings.KeepAliveSeconds, settings.ProtocolLevel, settings.ReceiveMaximum), cancellationToken);
            var (header, body) = await connection.ReadPacketAsync(cancellationToken);
            EnsureConnAck(clientId, header, body);

            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Connects with blocking calls only: a socket that never saw an asynchronous call stays in blocking mode, so a
    /// thread blocked in <see cref="ReadLoop"/> is woken by the kernel itself. (Once .NET has used a socket
    /// asynchronously, its blocking calls wait for the socket engine's thread to signal them: one more hand-off.)
    /// </summary>
    public static MqttConnection Connect(string host, int port, string clientId)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var connection = new MqttConnection(socket, 64 * 1024);
        try
        {
            socket.Connect(host, port);
            connection.Send(MqttWire.Connect(clientId, 120));
            var (header, body) = connection.ReadPacket();
            EnsureConnAck(clientId, header, body);

            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>SUBSCRIBE with blocking calls (see <see cref="Connect"/>).</summary>
    public void Subscribe(string filter, int qos)
    {
        Send(MqttWire.Subscribe(1, filter, qos));
        var (header, body) = ReadPacket();
        EnsureSubAck(filter, header, body);
    }

    public async Task SubscribeAsync(string filter, int qos, CancellationToken cancellationToken)
    {
        await SendAsync(MqttWire.Subscribe(1, filter, qos, ProtocolLevel), cancellationToken);
        var (header, body) = await ReadPacketAsync(cancellationToken);
        EnsureSubAck(filter, header, ProtocolLevel == 5 ? SkipProperties(body) : body);
    }

    public async ValueTask SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        while (!data.IsEmpty)
        {
            var sent = await _socket.SendAsync(data, SocketFlags.None, cancellationToken);
            data = data[sent..];
        }
    }

    /// <summary>Sends from a dedicated thread (the latency publisher's pacing loop), blocking until the kernel took it all.</summary>
    public void Send(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            data = data[_socket.Send(data, SocketFlags.None)..];
        }
    }

    private static void EnsureConnAck(string clientId, byte header, byte[] body)
    {
        if (header != MqttWire.ConnAck || body.Length < 2 || body[1] != 0)
        {
            throw new IOException($"CONNECT refused for {clientId}: header 0x{header:X2}, code {(body.Length > 1 ? body[1] : -1)}.");
        }
    }

    /// <summary>An MQTT 5 SUBACK's body without its properties (packet id, then the reason codes).</summary>
    private static byte[] SkipProperties(byte[] body)
    {
        MqttWire.TryReadVarInt(body.AsSpan(2), out var length, out var size);
        return [body[0], body[1], .. body.AsSpan(2 + size + length)];
    }

    private static void EnsureSubAck(string filter, byte header, byte[] body)
    {
        if (header != MqttWire.SubAck || body.Length < 3 || body[2] > 2)
        {
            throw new IOException($"SUBSCRIBE {filter} refused: header 0x{header:X2}.");
        }
    }

    /// <summary>True when the broker closed the connection (readable with nothing to read), without consuming data.</summary>
    public bool IsClosedByPeer()
    {
        try
        {
            return _socket.Poll(0, SelectMode.SelectRead) && _socket.Available == 0;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    /// <summary>Reads until the peer closes or the token fires, handing every packet to <paramref name="sink"/>.</summary>
    public async Task ReadLoopAsync(IPacketSink sink, CancellationToken cancellationToken)
    {
        while (true)
        {
            Parse(sink);
            await sink.OnBatchEndAsync(cancellationToken);
            await FillAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Reads on the calling (dedicated) thread with blocking receives until the peer closes or the socket is disposed,
    /// handing every packet to <paramref name="sink"/> and calling <paramref name="afterRead"/> once per read. The
    /// latency scenario uses it so that a delivery wakes the thread that measures it directly, instead of the socket
    /// engine's thread and then a thread-pool worker: two hand-offs of the tool's own that would add to every broker's
    /// figure and put the tool's threads on the broker's core.
    /// </summary>
    public void ReadLoop(IPacketSink sink, Action afterRead)
    {
        while (true)
        {
            Parse(sink);
            afterRead();
            Compact();
            var read = _socket.Receive(_buffer.AsSpan(_end), SocketFlags.None);
            if (read == 0)
            {
                throw new IOException("Connection closed by the broker.");
            }

            _end += read;
        }
    }

    public void Dispose()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
            // Already closed by the peer: nothing left to shut down.
        }
        catch (ObjectDisposedException)
        {
            // Disposed twice.
        }

        _socket.Dispose();
    }

    private async Task<(byte Header, byte[] Body)> ReadPacketAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            if (TryTakePacket(out var header, out var body))
            {
                return (header, body);
            }

            await FillAsync(cancellationToken);
        }
    }

    private (byte Header, byte[] Body) ReadPacket()
    {
        while (true)
        {
            if (TryTakePacket(out var header, out var body))
            {
                return (header, body);
            }

            Compact();
            var read = _socket.Receive(_buffer.AsSpan(_end), SocketFlags.None);
            if (read == 0)
            {
                throw new IOException("Connection closed by the broker.");
            }

            _end += read;
        }
    }

    /// <summary>Takes the first whole packet out of the buffer (its body copied), if one is there.</summary>
    private bool TryTakePacket(out byte header, out byte[] body)
    {
        var data = _buffer.AsSpan(_start, _end - _start);
        if (data.Length >= 2 && MqttWire.TryReadRemainingLength(data, out var length, out var headerSize)
            && data.Length >= headerSize + length)
        {
            header = data[0];
            body = data.Slice(headerSize, length).ToArray();
            _start += headerSize + length;
            return true;
        }

        header = 0;
        body = [];
        return false;
    }

    private void Parse(IPacketSink sink)
    {
        while (true)
        {
            var data = _buffer.AsSpan(_start, _end - _start);
            if (data.Length < 2 || !MqttWire.TryReadRemainingLength(data, out var length, out var headerSize)
                || data.Length < headerSize + length)
            {
                return;
            }

            sink.OnPacket(data[0], data.Slice(headerSize, length));
            _start += headerSize + length;
        }
    }

    private async ValueTask FillAsync(CancellationToken cancellationToken)
    {
        Compact();
        var read = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
        if (read == 0)
        {
            throw new IOException("Connection closed by the broker.");
        }

        _end += read;
    }

    /// <summary>Moves unread bytes to the front, and grows the buffer only if a single packet does not fit.</summary>
    private void Compact()
    {
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }

        if (_end == _buffer.Length)
        {
            Array.Resize(ref _buffer, _buffer.Length * 2);
        }
    }
}

/// <summary>How <see cref="MqttConnection.ConnectAsync(string, int, string, ConnectSettings, CancellationToken)"/> opens a connection.</summary>
internal sealed record ConnectSettings(
    ushort KeepAliveSeconds = 120, IPAddress? LocalAddress = null, int ReadBufferSize = 64 * 1024, int? ReceiveBufferSize = null,
    int ProtocolLevel = 4, ushort? ReceiveMaximum = null);
