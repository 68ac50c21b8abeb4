using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using static Iot.Broker.Mqtt.Transport.Epoll.LinuxSockets;

namespace Iot.Broker.Mqtt.Transport.Epoll;

/// <summary>
/// One thread waiting in <c>epoll_wait</c> for the connections registered with it (edge-triggered, in, out and peer
/// hang-up) and handing each readiness to its <see cref="EpollMqttTransport"/> on this thread: packets are read,
/// matched and forwarded without a thread hand-off, as Mosquitto's loop does. An eventfd wakes it to stop.
/// </summary>
internal sealed unsafe class EpollLoop
{
    private const int MaxEvents = 256;
    private const ulong WakeToken = ulong.MaxValue;

    private readonly EpollEngine _engine;
    private readonly int _nice;
    private readonly int _epoll;
    private readonly int _wake;
    private readonly Thread _thread;
    private volatile bool _stopping;

    public EpollLoop(EpollEngine engine, int index, int nice = 0)
    {
        _engine = engine;
        _nice = nice;
        _epoll = epoll_create1(EPOLL_CLOEXEC);
        if (_epoll < 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }

        _wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (_wake < 0)
        {
            var error = Marshal.GetLastPInvokeError();
            close(_epoll);
            throw new SocketException(error);
        }

        var ev = stackalloc byte[16];
        WriteEvent(ev, EPOLLIN, WakeToken);
        if (epoll_ctl(_epoll, EPOLL_CTL_ADD, _wake, ev) != 0)
        {
            var error = Marshal.GetLastPInvokeError();
            close(_wake);
            close(_epoll);
            throw new SocketException(error);
        }

        _thread = new Thread(Run) { IsBackground = true, Name = $"iot-epoll-{index}" };
    }

    public void Start() => _thread.Start();

    /// <summary>Watches <paramref name="fd"/> (edge-triggered); its events carry <paramref name="token"/>.</summary>
    public void Register(int fd, ulong token)
    {
        var ev = stackalloc byte[16];
        WriteEvent(ev, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, token);
        if (epoll_ctl(_epoll, EPOLL_CTL_ADD, fd, ev) != 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }
    }

    /// <summary>Wakes the thread, lets it end and waits for it.</summary>
    public void Stop()
    {
        _stopping = true;
        ulong one = 1;
        _ = write(_wake, (byte*)&one, sizeof(ulong));
        if (_thread.IsAlive)
        {
            _thread.Join();
        }
    }

    private void Run()
    {
        if (_nice != 0 && setpriority(PRIO_PROCESS, gettid(), _nice) != 0)
        {
            _engine.NiceFailed(_nice, Marshal.GetLastPInvokeError());
        }

        var size = EventSize;
        var dataOffset = EventDataOffset;
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * size));
        try
        {
            while (!_stopping)
            {
                var count = epoll_wait(_epoll, events, MaxEvents, -1);
                if (count < 0)
                {
                    var error = Marshal.GetLastPInvokeError();
                    if (error == EINTR)
                    {
                        continue;
                    }

                    _engine.LoopFailed(new SocketException(error));
                    return;
                }

                for (var i = 0; i < count; i++)
                {
                    var at = events + (i * size);
                    var token = Unsafe.ReadUnaligned<ulong>(at + dataOffset);
                    if (token == WakeToken)
                    {
                        ulong drained;
                        _ = read(_wake, (byte*)&drained, sizeof(ulong));
                        continue;
                    }

                    _engine.Dispatch(token, *(uint*)at);
                }
            }
        }
        finally
        {
            NativeMemory.Free(events);
            close(_wake);
            close(_epoll);
        }
    }
}
