using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;

namespace Iot.Broker.Mqtt.Transport;

/// <summary>
/// One MQTT connection on the lean TCP transport: a raw <see cref="Socket"/> with no pipes and no task parked while
/// the client is idle. Readiness is awaited with a zero-byte receive (no buffer held); when data arrives a pooled
/// buffer is filled with non-blocking receives, the packets in it are handled, and the buffer goes back to the pool
/// as soon as no partial packet remains. An idle connection is the socket, one pending zero-byte receive and the
/// MQTT state (ADR 0006).
/// </summary>
internal sealed class SocketMqttTransport : BufferedMqttTransport, IThreadPoolWorkItem
{
    private const int Processing = 0;
    private const int Waiting = 1;
    private const int Closed = 2;

    private readonly Socket _socket;
    private readonly SocketPipeWriter _output;
    private int _state;
    private ValueTask<int> _readiness;
    private Action? _onReadable;

    public SocketMqttTransport(Socket socket, SocketMqttListener listener)
        : base(listener)
    {
        _socket = socket;
        _output = new SocketPipeWriter(socket);
    }

    public override PipeWriter Output => _output;

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
        Connection = connection;
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
        var connection = Connection!;
        try
        {
            // A receive that did not fill the space it was given has most likely emptied the socket: the next step is
            // to wait (whose first attempt still finds data that came meanwhile), not a receive that would only fail
            // with EAGAIN. That saves a system call per wake-up.
            var drained = false;
            while (!connection.IsClosing && Volatile.Read(ref _state) != Closed)
            {
                var wouldBlock = drained;
                var received = drained ? 0 : ReceiveAvailable(out wouldBlock, out drained);
                if (wouldBlock)
                {
                    if (!HasPendingBytes)
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
                    var memory = ReceiveMemory;
                    received = await _socket.ReceiveAsync(memory, SocketFlags.None).ConfigureAwait(false);
                    drained = received < memory.Length;
                }

                if (received == 0)
                {
                    // The peer closed (or the receive side was shut by CancelReceive).
                    break;
                }

                Received(received);
                if (!await HandleFramesAsync(connection).ConfigureAwait(false))
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
            BrokerLog.ConnectionFailed(Listener.Logger, ConnectionId, ex);
        }

        Volatile.Write(ref _state, Closed);
        await FinishAsync().ConfigureAwait(false);
    }

    /// <summary>Reads what the socket has without waiting; <paramref name="wouldBlock"/> when it has nothing.</summary>
    private int ReceiveAvailable(out bool wouldBlock, out bool drained)
    {
        var space = ReceiveSpace;
        var count = _socket.Receive(space, SocketFlags.None, out var error);
        wouldBlock = error == SocketError.WouldBlock;
        drained = count < space.Length;
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

    protected override bool ShutdownSend()
    {
        try
        {
            // FIN after what was sent (DISCONNECT included).
            _socket.Shutdown(SocketShutdown.Send);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    protected override async Task DrainAsync(CancellationToken cancellationToken)
    {
        var scratch = ReceiveMemory;
        while (await _socket.ReceiveAsync(scratch, SocketFlags.None, cancellationToken).ConfigureAwait(false) > 0)
        {
            // Discarded: the connection is closing.
        }
    }

    protected override void CloseSocket()
    {
        try
        {
            // Closing with a receive pending would otherwise reset.
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Already reset or aborted.
        }

        _socket.Dispose();
    }
}
