using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Iot.Broker.Mqtt.Transport;

/// <summary>
/// One MQTT connection on the lean TCP transport: a raw <see cref="Socket"/> with no pipes and no task parked while
/// the client is idle. Readiness is awaited with a zero-byte receive (no buffer held); when data arrives a pooled
/// buffer is filled with non-blocking receives, the packets in it are handled, and the buffer goes back to the pool
/// as soon as no partial packet remains. An idle connection is the socket, one pending zero-byte receive and the
/// MQTT state (ADR 0006).
/// </summary>
internal sealed class SocketMqttTransport : MqttTransport, IThreadPoolWorkItem
{
    private const int Processing = 0;
    private const int Waiting = 1;
    private const int Closed = 2;
    private const int InitialReceiveSize = 4096;

    private static long s_nextId;

    private readonly Socket _socket;
    private readonly SocketPipeWriter _output;
    private readonly SocketMqttListener _listener;
    private readonly long _id;
    private MqttConnection? _connection;
    private byte[]? _buffer;
    private int _start;
    private int _end;
    private int _state;
    private int _finished;
    private ValueTask<int> _readiness;
    private Action? _onReadable;

    public SocketMqttTransport(Socket socket, SocketMqttListener listener)
    {
        _socket = socket;
        _listener = listener;
        _output = new SocketPipeWriter(socket);
        _id = Interlocked.Increment(ref s_nextId);
    }

    public override PipeWriter Output => _output;

    public override string ConnectionId => "tcp-" + _id.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public override EndPoint? RemoteEndPoint
    {
        get
        {
            try
            {
                return _socket.RemoteEndPoint;
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return null;
            }
        }
    }

    /// <summary>Binds the MQTT connection and starts reading on the thread pool.</summary>
    public void Start(MqttConnection connection)
    {
        _connection = connection;
        connection.Open();
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    void IThreadPoolWorkItem.Execute() => _ = ProcessAsync();

    public override void CancelReceive()
    {
        var previous = Interlocked.Exchange(ref _state, Closed);
        if (previous == Waiting)
        {
            // Parked on the zero-byte receive: nothing else will run, so the shutdown starts here.
            _ = FinishAsync();
        }
        else if (previous == Processing)
        {
            // Reading or handling: it sees the connection closing at the next packet boundary. A receive waiting for
            // the rest of a packet is woken by shutting the receive side (the socket still sends DISCONNECT).
            try
            {
                _socket.Shutdown(SocketShutdown.Receive);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Already gone.
            }
        }
    }

    public override void Abort() => _socket.Dispose();

    private async Task ProcessAsync()
    {
        var connection = _connection!;
        var maxPacketSize = _listener.MaxPacketSize;
        try
        {
            // A receive that did not fill the space it was given has most likely emptied the socket: the next step is
            // to wait (whose first attempt still finds data that came meanwhile), not a receive that would only fail
            // with EAGAIN. That saves a system call per wake-up.
            var drained = false;
            while (!connection.IsClosing && Volatile.Read(ref _state) != Closed)
            {
                var wouldBlock = drained;
                var received = drained ? 0 : ReceiveAvailable(out wouldBlock);
                if (wouldBlock)
                {
                    if (_start == _end)
                    {
                        // Nothing buffered: give the buffer back and wait for readability without one.
                        ReturnBuffer();
                        if (Park())
                        {
                            return;
                        }

                        drained = false;
                        continue;
                    }

                    // The rest of a packet is on its way: wait for it with the buffer.
                    EnsureSpace();
                    received = await _socket.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None).ConfigureAwait(false);
                }

                if (received == 0)
                {
                    // The peer closed (or the receive side was shut by CancelReceive).
                    break;
                }

                drained = received < _buffer!.Length - _end;
                _end += received;
                if (!await HandleFramesAsync(connection, maxPacketSize).ConfigureAwait(false))
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Reset by the peer or closed by us.
        }
        catch (Exception ex)
        {
            BrokerLog.ConnectionFailed(_listener.Logger, ConnectionId, ex);
        }

        Volatile.Write(ref _state, Closed);
        await FinishAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// Handles every whole packet in the buffer; false when the connection ends. One send batch covers them (closed
    /// before any await that does not complete at once): the acknowledgements of a burst of publishes leave in one
    /// send, and a subscriber's writer started by them runs once, on this thread, when the burst is handled.
    /// </summary>
    private async ValueTask<bool> HandleFramesAsync(MqttConnection connection, int maxPacketSize)
    {
        SendBatch.Enter();
        var open = true;
        try
        {
            while (_start < _end)
            {
                var sequence = new ReadOnlySequence<byte>(_buffer!, _start, _end - _start);
                var status = PacketFraming.TryRead(ref sequence, maxPacketSize, out var header, out var body, out var total);
                if (status == FramingStatus.NeedMoreData)
                {
                    break;
                }

                if (status == FramingStatus.Packet)
                {
                    _start += total;
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

    /// <summary>Reads what the socket has without waiting; <paramref name="wouldBlock"/> when it has nothing.</summary>
    private int ReceiveAvailable(out bool wouldBlock)
    {
        EnsureSpace();
        var count = _socket.Receive(_buffer!, _end, _buffer!.Length - _end, SocketFlags.None, out var error);
        wouldBlock = error == SocketError.WouldBlock;
        if (error is SocketError.Success or SocketError.WouldBlock)
        {
            return count;
        }

        throw new SocketException((int)error);
    }

    /// <summary>
    /// Waits for readability with a zero-byte receive. True: parked (the continuation resumes reading, or shuts the
    /// connection down if it was closed meanwhile); false: data is already there or the connection closed, go on.
    /// </summary>
    private bool Park()
    {
#pragma warning disable CA2012 // Kept in a field so the continuation can consume it: it is consumed exactly once (GetResult).
        _readiness = _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
#pragma warning restore CA2012
        if (_readiness.IsCompleted)
        {
            _readiness.GetAwaiter().GetResult();
            return false;
        }

        if (Interlocked.CompareExchange(ref _state, Waiting, Processing) != Processing)
        {
            // Closed meanwhile: end here (FinishAsync disposes the socket, which completes the receive).
            return false;
        }

        // From here on the continuation owns the connection: it may already be running on another thread.
        _readiness.GetAwaiter().UnsafeOnCompleted(_onReadable ??= OnReadable);
        return true;
    }

    private void OnReadable()
    {
        try
        {
            _readiness.GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // Handled below: the next receive reports the error, or the connection is already closing.
        }

        if (Interlocked.CompareExchange(ref _state, Processing, Waiting) == Waiting)
        {
            _ = ProcessAsync();
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

    private void ReturnBuffer()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            _start = _end = 0;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task FinishAsync()
    {
        if (Interlocked.Exchange(ref _finished, 1) != 0)
        {
            return;
        }

        try
        {
            await _connection!.ShutdownAsync().ConfigureAwait(false);
        }
        finally
        {
            try
            {
                // FIN after what was sent (DISCONNECT included); closing with a receive pending would otherwise reset.
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Already reset or aborted.
            }

            _socket.Dispose();
            ReturnBuffer();
            _listener.Ended();
        }
    }
}
