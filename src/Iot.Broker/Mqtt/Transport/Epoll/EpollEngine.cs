using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using static Iot.Broker.Mqtt.Transport.Epoll.LinuxSockets;

namespace Iot.Broker.Mqtt.Transport.Epoll;

/// <summary>
/// The epoll transport of the plain MQTT listener (<c>Iot:Mqtt:Transport</c> = <c>epoll</c>, the default on Linux,
/// ADR 0006): one thread accepts (blocking <c>accept4</c>, non-blocking sockets), <c>Iot:Mqtt:EpollThreads</c> loops
/// wait for readiness, and each connection is an <see cref="EpollMqttTransport"/> of about 200 bytes over its file
/// descriptor, where a .NET <see cref="Socket"/> with its async machinery costs about 1 kB. Events find their
/// connection through a slot table: the event's 64-bit data is the slot and the slot's generation, so a late event
/// for a connection that has ended is never taken for the next one in that slot.
/// </summary>
internal sealed unsafe partial class EpollEngine
{
    private readonly SocketMqttListener _listener;
    private readonly ConnectionServices _broker;
    private readonly Socket _listen;
    private readonly ILogger _logger;
    private readonly EpollLoop[] _loops;
    private readonly Thread _acceptThread;
    private readonly Lock _slotsGate = new();
    private EpollMqttTransport?[] _slots = new EpollMqttTransport?[1024];
    private int[] _freeSlots = new int[1024];
    private int _freeCount;
    private int _slotsUsed;
    private uint _generation;
    private int _nextLoop;
    private volatile bool _stopping;

    public EpollEngine(SocketMqttListener listener, ConnectionServices broker, Socket listen, int threads, int nice, ILogger logger)
    {
        _listener = listener;
        _broker = broker;
        _listen = listen;
        _logger = logger;
        _loops = new EpollLoop[threads];
        for (var i = 0; i < threads; i++)
        {
            _loops[i] = new EpollLoop(this, i, nice);
        }

        _acceptThread = new Thread(AcceptLoop) { IsBackground = true, Name = "iot-accept" };
    }

    public void Start()
    {
        foreach (var loop in _loops)
        {
            loop.Start();
        }

        _acceptThread.Start();
    }

    /// <summary>Stops accepting: the blocked <c>accept4</c> returns once the listening socket is shut.</summary>
    public void StopAccepting()
    {
        _stopping = true;
        _ = shutdown_fd(_listen.SafeHandle.DangerousGetHandle(), SHUT_RDWR);
        if (_acceptThread.IsAlive)
        {
            _acceptThread.Join();
        }
    }

    /// <summary>Ends the loops (after every connection has ended).</summary>
    public void StopLoops()
    {
        foreach (var loop in _loops)
        {
            loop.Stop();
        }
    }

    /// <summary>Hands an event to its connection; stale events (an ended connection's) are dropped.</summary>
    public void Dispatch(ulong token, uint events)
    {
        var slot = (int)(uint)token;
        var slots = Volatile.Read(ref _slots);
        if ((uint)slot >= (uint)slots.Length || Volatile.Read(ref slots[slot]) is not { } transport || transport.Generation != (uint)(token >> 32))
        {
            return;
        }

        try
        {
            transport.OnEvents(events);
        }
        catch (Exception ex)
        {
            // A transport handles its own failures; this keeps the loop (and every other connection on it) alive.
            BrokerLog.ConnectionFailed(_logger, transport.ConnectionId, ex);
        }
    }

    /// <summary>A loop's epoll_wait failed for good: the loop's connections can no longer be served.</summary>
    public void LoopFailed(Exception exception) => LogLoopFailed(_logger, exception);

    /// <summary>A loop could not take its configured nice value (it runs with the process's own).</summary>
    public void NiceFailed(int nice, int errno) => LogNiceFailed(_logger, nice, errno);

    /// <summary>Frees the slot of an ended connection.</summary>
    public void Release(EpollMqttTransport transport)
    {
        lock (_slotsGate)
        {
            if (ReferenceEquals(_slots[transport.Slot], transport))
            {
                Volatile.Write(ref _slots[transport.Slot], null);
                _freeSlots[_freeCount++] = transport.Slot;
            }
        }
    }

    private void AcceptLoop()
    {
        var listenFd = _listen.SafeHandle.DangerousGetHandle();
        var address = stackalloc byte[SockAddrSize];
        while (!_stopping)
        {
            var length = (uint)SockAddrSize;
            var fd = accept4(listenFd, address, &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0)
            {
                Accept(fd, PeerAddress.Read(address, length));
                continue;
            }

            var error = Marshal.GetLastPInvokeError();
            if (_stopping || error is EBADF or EINVAL)
            {
                return;
            }

            if (error is EMFILE or ENFILE or ENOBUFS or ENOMEM)
            {
                // Out of file descriptors (or kernel memory): count it, let the backlog wait, try again.
                _broker.Context.Metrics.LimitHit(LimitKind.OpenFiles);
                LogAcceptFailed(_logger, error);
                Thread.Sleep(100);
            }

            // EINTR, ECONNABORTED (reset before it was accepted) and the like: keep accepting.
        }
    }

    private void Accept(int fd, PeerAddress peer)
    {
        var one = 1;
        _ = setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(int));
        if (!_broker.Admission.TryAcceptFrom(peer.ToEndPoint(), out var delay))
        {
            close(fd);
            return;
        }

        _listener.Started();
        var transport = new EpollMqttTransport(new SocketFd(fd), this, _listener, peer);
        var connection = new MqttConnection(transport, _broker);
        connection.AdmitAfter(delay);
        var token = Assign(transport);
        transport.Start(connection);
        try
        {
            _loops[(int)((uint)_nextLoop++ % (uint)_loops.Length)].Register(fd, token);
        }
        catch (SocketException ex)
        {
            LogRegisterFailed(_logger, ex.SocketErrorCode, ex);
            transport.CancelReceive();
        }
    }

    private ulong Assign(EpollMqttTransport transport)
    {
        lock (_slotsGate)
        {
            int slot;
            if (_freeCount > 0)
            {
                slot = _freeSlots[--_freeCount];
            }
            else
            {
                if (_slotsUsed == _slots.Length)
                {
                    // Readers see either array: a slot is published before its descriptor is registered.
                    var larger = new EpollMqttTransport?[_slots.Length * 2];
                    Array.Copy(_slots, larger, _slots.Length);
                    Volatile.Write(ref _slots, larger);
                    Array.Resize(ref _freeSlots, larger.Length);
                }

                slot = _slotsUsed++;
            }

            transport.Slot = slot;
            transport.Generation = ++_generation;
            Volatile.Write(ref _slots[slot], transport);
            return ((ulong)transport.Generation << 32) | (uint)slot;
        }
    }

    [LoggerMessage(EventId = 1041, Level = LogLevel.Warning, Message = "MQTT accept failed (errno {Errno})")]
    private static partial void LogAcceptFailed(ILogger logger, int errno);

    [LoggerMessage(EventId = 1042, Level = LogLevel.Warning, Message = "A connection could not be registered with epoll ({Error})")]
    private static partial void LogRegisterFailed(ILogger logger, SocketError error, Exception exception);

    [LoggerMessage(EventId = 1043, Level = LogLevel.Critical, Message = "An epoll loop failed; its connections are no longer served")]
    private static partial void LogLoopFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1044, Level = LogLevel.Warning, Message = "An epoll loop could not take Iot:Mqtt:EpollNice {Nice} (errno {Errno}; below 0 needs CAP_SYS_NICE); it runs with the process's nice value")]
    private static partial void LogNiceFailed(ILogger logger, int nice, int errno);
}

/// <summary>A peer's address as <c>accept4</c> returned it, kept in 24 bytes; an <see cref="IPEndPoint"/> on demand.</summary>
internal readonly struct PeerAddress
{
    private readonly ulong _high;
    private readonly ulong _low;
    private readonly ushort _port;
    private readonly ushort _family;

    private PeerAddress(ulong high, ulong low, ushort port, ushort family)
    {
        _high = high;
        _low = low;
        _port = port;
        _family = family;
    }

    public static unsafe PeerAddress Read(byte* address, uint length)
    {
        var family = *(ushort*)address;
        var port = BinaryPrimitives.ReverseEndianness(*(ushort*)(address + 2));
        if (family == AF_INET && length >= 8)
        {
            return new PeerAddress(0, *(uint*)(address + 4), port, AF_INET);
        }

        if (family == AF_INET6 && length >= 24)
        {
            return new PeerAddress(*(ulong*)(address + 8), *(ulong*)(address + 16), port, AF_INET6);
        }

        return default;
    }

    public IPEndPoint? ToEndPoint()
    {
        switch (_family)
        {
            case AF_INET:
                return new IPEndPoint(new IPAddress((long)_low), _port);
            case AF_INET6:
                Span<byte> bytes = stackalloc byte[16];
                BitConverter.TryWriteBytes(bytes, _high);
                BitConverter.TryWriteBytes(bytes[8..], _low);
                return new IPEndPoint(new IPAddress(bytes), _port);
            default:
                return null;
        }
    }
}
