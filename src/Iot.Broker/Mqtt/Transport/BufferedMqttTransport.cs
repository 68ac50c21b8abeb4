using System.Buffers;
using System.Runtime.CompilerServices;

namespace Iot.Broker.Mqtt.Transport;

/// <summary>
/// What the two lean transports (<see cref="SocketMqttTransport"/> on .NET sockets, <see cref="Epoll.EpollMqttTransport"/>
/// on the broker's own epoll loop) share: a receive buffer taken from the pool only while bytes are pending, and the
/// handling of the whole packets in it within one send batch.
/// </summary>
internal abstract class BufferedMqttTransport(SocketMqttListener listener) : MqttTransport
{
    private const int InitialReceiveSize = 4096;

    private readonly long _id = listener.NextConnectionId();
    private byte[]? _buffer;
    private int _start;
    private int _end;
    private int _finished;

    protected SocketMqttListener Listener => listener;

    public override string ConnectionId => "tcp-" + _id.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The MQTT connection on this transport (bound before the first byte is read).</summary>
    protected MqttConnection? Connection { get; set; }

    /// <summary>Bytes received and not yet handled (the start of a packet).</summary>
    protected bool HasPendingBytes => _start != _end;

    /// <summary>Room to receive into (a buffer from the pool, made larger when a packet fills it).</summary>
    protected Span<byte> ReceiveSpace
    {
        get
        {
            EnsureSpace();
            return _buffer.AsSpan(_end);
        }
    }

    /// <summary>The same room as <see cref="Memory{T}"/>, for an asynchronous receive.</summary>
    protected Memory<byte> ReceiveMemory
    {
        get
        {
            EnsureSpace();
            return _buffer.AsMemory(_end);
        }
    }

    /// <summary>Records <paramref name="count"/> bytes received into <see cref="ReceiveSpace"/>.</summary>
    protected void Received(int count) => _end += count;

    /// <summary>
    /// Handles every whole packet in the buffer; false when the connection ends. One send batch covers them (closed
    /// before any await that does not complete at once): the acknowledgements of a burst of publishes leave in one
    /// send, and a subscriber's writer started by them runs once, on this thread, when the burst is handled.
    /// </summary>
    protected async ValueTask<bool> HandleFramesAsync(MqttConnection connection)
    {
        var maxPacketSize = listener.MaxPacketSize;
        SendBatch.Enter();
        var open = true;
        try
        {
            while (_start < _end)
            {
                var status = NextFrame(connection, maxPacketSize, out var header, out var body, out var total);
                if (status == FramingStatus.NeedMoreData)
                {
                    break;
                }

                if (status == FramingStatus.Handled)
                {
                    continue;
                }

                var handled = connection.OnFrameAsync(status, header, body, total);
                // A handling that waits closes the batch first (it belongs to this thread) and opens a new one
                // after; one that completed at once is awaited without yielding, so the batch stays open.
                var waits = !handled.IsCompleted;
                if (waits)
                {
                    open = false;
                    SendBatch.Exit();
                }

                var keepGoing = await handled.ConfigureAwait(false);
                if (waits)
                {
                    SendBatch.Enter();
                    open = true;
                }

                if (!keepGoing)
                {
                    return false;
                }
            }
        }
        finally
        {
            if (open)
            {
                SendBatch.Exit();
            }
        }

        if (_start == _end)
        {
            _start = _end = 0;
        }

        return true;
    }

    /// <summary>
    /// Frames the next packet in the buffer and takes it off. The small packets of a publish flow are handled where
    /// they lie (<see cref="MqttConnection.TryHandleInline"/>: <see cref="FramingStatus.Handled"/>); any other packet's
    /// body is copied into an array of its own for the connection (a PUBLISH's payload lives on in it).
    /// </summary>
    private FramingStatus NextFrame(MqttConnection connection, int maxPacketSize, out byte header, out byte[] body, out int total)
    {
        body = [];
        var data = _buffer.AsSpan(_start, _end - _start);
        var status = PacketFraming.TryReadHeader(data, maxPacketSize, out header, out var headerLength, out total);
        if (status != FramingStatus.Packet)
        {
            return status;
        }

        if (data.Length < total)
        {
            return FramingStatus.NeedMoreData;
        }

        _start += total;
        var packet = data[headerLength..total];
        if (connection.TryHandleInline(header, packet, total))
        {
            return FramingStatus.Handled;
        }

        if (!packet.IsEmpty)
        {
            body = packet.ToArray();
        }

        return FramingStatus.Packet;
    }

    /// <summary>
    /// Ends the connection once, whoever gets here first (the receive side, or a close while it was parked): the MQTT
    /// connection shuts down (its writer drains, DISCONNECT to MQTT 5 clients), then <see cref="CloseSocket"/>.
    /// </summary>
    protected async Task FinishAsync()
    {
        if (Interlocked.Exchange(ref _finished, 1) != 0)
        {
            return;
        }

        try
        {
            await Connection!.ShutdownAsync().ConfigureAwait(false);
        }
        finally
        {
            CloseSocket();
            ReturnBuffer();
            listener.Ended();
        }
    }

    /// <summary>Sends the FIN after what was sent and closes the socket.</summary>
    protected abstract void CloseSocket();

    /// <summary>Gives the buffer back to the pool (nothing is pending, or the connection ended).</summary>
    protected void ReturnBuffer()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            _start = _end = 0;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EnsureSpace()
    {
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent(InitialReceiveSize);
            _start = _end = 0;
            return;
        }

        if (_end < _buffer.Length)
        {
            return;
        }

        // Full: move the partial packet to the front, or grow when it fills the buffer (the framing already refused
        // a packet larger than the maximum, so growth is bounded by it).
        var pending = _end - _start;
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, pending);
        }
        else
        {
            var larger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            Buffer.BlockCopy(_buffer, 0, larger, 0, pending);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        _start = 0;
        _end = pending;
    }
}
