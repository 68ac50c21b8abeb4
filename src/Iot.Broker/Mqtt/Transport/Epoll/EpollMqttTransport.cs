using System.IO.Pipelines;
using System.Net;
using System.Runtime.InteropServices;
using static Iot.Broker.Mqtt.Transport.Epoll.LinuxSockets;

namespace Iot.Broker.Mqtt.Transport.Epoll;

/// <summary>
/// One MQTT connection on the epoll transport: its file descriptor, its slot in the engine, a receive buffer only
/// while bytes are pending, and a state that says who runs its receive side. The loop thread that gets a readiness
/// event reads and handles the packets itself (no thread hand-off); an event that arrives while that is under way
/// only marks the connection so that the runner reads again before it parks. Nothing is parked while the connection
/// is idle: no task, no buffer, no pending operation.
/// </summary>
internal sealed class EpollMqttTransport : BufferedMqttTransport
{
    private const int Idle = 0;
    private const int Running = 1;
    private const int Signaled = 2;
    private const int Closed = 3;

    private readonly SocketFd _fd;
    private readonly EpollEngine _engine;
    private readonly EpollPipeWriter _output;
    private readonly PeerAddress _peer;
    private int _state;
    // The peer's FIN (or an error) was reported: it was delivered with its edge, so the receive side must read until
    // recv returns 0 instead of parking after a short read.
    private volatile bool _hangUp;
    // Set while the closing connection drains its input (CloseLinger): readiness completes it.
    private TaskCompletionSource? _lingerSignal;

    public EpollMqttTransport(SocketFd fd, EpollEngine engine, SocketMqttListener listener, PeerAddress peer)
        : base(listener)
    {
        _fd = fd;
        _engine = engine;
        _peer = peer;
        _output = new EpollPipeWriter(fd);
    }

    /// <summary>The slot in the engine's table and its generation (set before the descriptor is registered).</summary>
    public int Slot { get; set; }

    public uint Generation { get; set; }

    public override PipeWriter Output => _output;

    public override EndPoint? RemoteEndPoint => _peer.ToEndPoint();

    /// <summary>Binds the MQTT connection; reading starts with the first event after registration.</summary>
    public void Start(MqttConnection connection)
    {
        Connection = connection;
        connection.Open();
    }

    /// <summary>Readiness from the loop thread: writable wakes a waiting writer, readable (or hang-up) the reader.</summary>
    public void OnEvents(uint events)
    {
        if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0)
        {
            _output.OnWritable();
        }

        if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) == 0)
        {
            return;
        }

        if (Volatile.Read(ref _lingerSignal) is { } linger)
        {
            linger.TrySetResult();
            return;
        }

        if ((events & (EPOLLRDHUP | EPOLLERR | EPOLLHUP)) != 0)
        {
            _hangUp = true;
        }

        while (true)
        {
            switch (Volatile.Read(ref _state))
            {
                case Idle:
                    if (Interlocked.CompareExchange(ref _state, Running, Idle) == Idle)
                    {
                        _ = ProcessAsync();
                        return;
                    }

                    break;
                case Running:
                    if (Interlocked.CompareExchange(ref _state, Signaled, Running) == Running)
                    {
                        return;
                    }

                    break;
                default:
                    // Signaled already, or closed.
                    return;
            }
        }
    }

    public override void CancelReceive()
    {
        if (Interlocked.Exchange(ref _state, Closed) == Idle)
        {
            // Nothing runs the receive side: the shutdown starts here. Otherwise the runner sees Closed before it
            // reads again (it never blocks in a receive).
            _ = FinishAsync();
        }
    }

    public override void Abort()
    {
        _output.Abort();
        try
        {
            // Both directions: a writer waiting for room fails, and the loop reports the hang-up to the reader.
            _ = shutdown(_fd, SHUT_RDWR);
        }
        catch (ObjectDisposedException)
        {
            // Already closed.
        }
    }

    private async Task ProcessAsync()
    {
        var connection = Connection!;
        try
        {
            while (true)
            {
                var ended = false;
                while (!connection.IsClosing && Volatile.Read(ref _state) != Closed)
                {
                    var received = Receive(out var space, out var error);
                    if (received > 0)
                    {
                        Received(received);
                        if (!await HandleFramesAsync(connection).ConfigureAwait(false))
                        {
                            ended = true;
                            break;
                        }

                        if (received < space && !_hangUp)
                        {
                            // The socket is empty: data (or a FIN) that comes later raises a new edge.
                            break;
                        }

                        continue;
                    }

                    if (received == 0 || (error != EAGAIN && error != EINTR))
                    {
                        // The peer closed, reset, or the descriptor was shut by Abort.
                        ended = true;
                        break;
                    }

                    if (error == EAGAIN)
                    {
                        break;
                    }
                }

                if (ended || connection.IsClosing)
                {
                    break;
                }

                if (!HasPendingBytes)
                {
                    ReturnBuffer();
                }

                // Park: from here the next event starts a new runner. An event that came while this one ran makes it
                // read once more; a close makes it end.
                var previous = Interlocked.CompareExchange(ref _state, Idle, Running);
                if (previous == Running)
                {
                    return;
                }

                if (previous != Signaled || Interlocked.CompareExchange(ref _state, Running, Signaled) != Signaled)
                {
                    break;
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // The descriptor was closed by the shutdown.
        }
        catch (Exception ex)
        {
            BrokerLog.ConnectionFailed(Listener.Logger, ConnectionId, ex);
        }

        Volatile.Write(ref _state, Closed);
        await FinishAsync().ConfigureAwait(false);
    }

    private unsafe int Receive(out int space, out int error)
    {
        var room = ReceiveSpace;
        space = room.Length;
        nint count;
        fixed (byte* buffer = room)
        {
            count = recv(_fd, buffer, room.Length, 0);
        }

        error = count < 0 ? Marshal.GetLastPInvokeError() : 0;
        return (int)count;
    }

    protected override bool ShutdownSend()
    {
        try
        {
            // FIN after what was sent (DISCONNECT included).
            return shutdown(_fd, SHUT_WR) == 0;
        }
        catch (ObjectDisposedException)
        {
            return false;
        }
    }

    protected override async Task DrainAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            // Published before reading: an edge that comes after the last read completes this signal.
            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _lingerSignal, signal);
            while (true)
            {
                var received = Receive(out _, out var error);
                if (received > 0 || (received < 0 && error == EINTR))
                {
                    // Discarded: the connection is closing.
                    continue;
                }

                if (received == 0 || error != EAGAIN)
                {
                    // The peer closed (or reset).
                    return;
                }

                break;
            }

            await signal.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    protected override void CloseSocket()
    {
        try
        {
            // FIN after what was sent (DISCONNECT included).
            _ = shutdown(_fd, SHUT_RDWR);
        }
        catch (ObjectDisposedException)
        {
            // Already closed.
        }

        _output.Abort();
        _fd.Dispose();
        _engine.Release(this);
    }
}
