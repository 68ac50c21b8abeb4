using System.Runtime.InteropServices;

namespace Iot.Broker.Mqtt.Transport.Epoll;

/// <summary>
/// An accepted socket's file descriptor. Every system call on it holds a reference (the marshaller's
/// DangerousAddRef/Release), and <see cref="SafeHandle.Dispose()"/> closes the descriptor only once no call is in
/// flight: a writer on another thread can never send on a number the kernel has already given to a new connection.
/// </summary>
internal sealed class SocketFd : SafeHandle
{
    public SocketFd(int fd)
        : base(-1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle == -1;

    /// <summary>The descriptor number (for epoll registration and logs).</summary>
    public int Number => (int)handle;

    protected override bool ReleaseHandle() => LinuxSockets.close((int)handle) == 0;
}
