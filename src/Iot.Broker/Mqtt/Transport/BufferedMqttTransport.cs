using System.Buffers;
using System.Runtime.CompilerServices;

namespace Iot.Broker.Mqtt.Transport;

/// <summary>
/// What the two lean transports (<see cref="SocketMqttTransport"/> on .NET sockets, <see cref="Epoll.EpollMqttTransport"/>
/// on the broker's own epoll loop) share: a receive buffer taken from the pool only while bytes are pending, the
/// framing of the whole packets in it (handed over by <see cref="FrameHandling"/>, as Kestrel's are), and the close.
/// </summary>
internal abstract class BufferedMqttTransport(SocketMqttListener listener) : MqttTransport, IFrameSource
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
    /// Handles every whole packet in the buffer (<see cref="FrameHandling"/>, as every transport does); false when the
    /// connection ends.
    /// </summary>
    protected ValueTask<bool> HandleFramesAsync(MqttConnection connection)
    {
        // Completed at once in the common case: no second state machine on top of FrameHandling's.
        var handled = FrameHandling.HandleAsync(this, connection, listener.MaxPacketSize);
        return handled.IsCompletedSuccessfully ? new ValueTask<bool>(Handled(handled.Result)) : AwaitHandledAsync(handled);
    }

    private async ValueTask<bool> AwaitHandledAsync(ValueTask<bool> handled) => Handled(await handled.ConfigureAwait(false));

    /// <summary>Forgets the handled bytes when no partial packet remains; passes <paramref name="keepGoing"/> on.</summary>
    private bool Handled(bool keepGoing)
    {
        if (keepGoing && _start == _end)
        {
            _start = _end = 0;
        }

        return keepGoing;
    }

    /// <inheritdoc/>
    FramingStatus IFrameSource.NextFrame(MqttConnection connection, int maxPacketSize, out byte header, out byte[] body, out int total)
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
    /// connection shuts down (its writer drains, DISCONNECT to MQTT 5 clients), the send side is shut and the input
    /// drained for a bounded time (<see cref="CloseLinger"/>), then <see cref="CloseSocket"/>.
    /// </summary>
    protected async Task FinishAsync()
    {
        if (Interlocked.Exchange(ref _finished, 1) != 0)
        {
            return;
        }

        try
        {
            var connection = Connection!;
            await connection.ShutdownAsync().ConfigureAwait(false);
            if (ShutdownSend())
            {
                // A fresh buffer from the pool to read into and discard (whatever was pending is of no use now).
                ReturnBuffer();
                await CloseLinger.RunAsync(connection, DrainAsync).ConfigureAwait(false);
            }
        }
        finally
        {
            CloseSocket();
            ReturnBuffer();
            listener.Ended();
        }
    }

    /// <summary>Sends the FIN after what was sent (the send side is shut); false when the socket is already gone.</summary>
    protected abstract bool ShutdownSend();

    /// <summary>Reads and discards what the peer sends until it closes (or <paramref name="cancellationToken"/> ends the wait).</summary>
    protected abstract Task DrainAsync(CancellationToken cancellationToken);

    /// <summary>Closes the socket.</summary>
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
