using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Iot.Broker.Mqtt.Transport.Epoll;

/// <summary>
/// The Linux system calls of the epoll transport (libc), with the constants it needs. Linux on x86-64 and ARM64
/// only: the layout of <c>struct epoll_event</c> differs between them (packed, 12 bytes, on x86-64; 16 bytes on
/// ARM64), see <see cref="EventSize"/>.
/// </summary>
internal static unsafe partial class LinuxSockets
{
    public const int EAGAIN = 11;
    public const int EINTR = 4;
    public const int EBADF = 9;
    public const int ENOMEM = 12;
    public const int EINVAL = 22;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int ENOBUFS = 105;

    public const uint EPOLLIN = 0x001;
    public const uint EPOLLOUT = 0x004;
    public const uint EPOLLERR = 0x008;
    public const uint EPOLLHUP = 0x010;
    public const uint EPOLLRDHUP = 0x2000;
    public const uint EPOLLET = 1u << 31;

    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int SHUT_WR = 1;
    public const int SHUT_RDWR = 2;
    public const int IPPROTO_TCP = 6;
    public const int TCP_NODELAY = 1;
    public const int AF_INET = 2;
    public const int AF_INET6 = 10;

    /// <summary>Size of <c>struct sockaddr_in6</c>, the largest address accept returns here.</summary>
    public const int SockAddrSize = 28;

    /// <summary>Whether this process can use the epoll transport (Linux on x86-64 or ARM64).</summary>
    public static bool IsSupported =>
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>Size of <c>struct epoll_event</c>: packed on x86-64, naturally aligned elsewhere.</summary>
    public static int EventSize => RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    /// <summary>Offset of <c>epoll_event.data</c>.</summary>
    public static int EventDataOffset => RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    /// <summary>setpriority's "which" for one process or, on Linux, one thread (by its thread id).</summary>
    public const int PRIO_PROCESS = 0;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setpriority(int which, int who, int prio);

    [LibraryImport("libc")]
    public static partial int gettid();

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_wait(int epfd, byte* events, int maxevents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int accept4(nint sockfd, byte* addr, uint* addrlen, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recv(SafeHandle sockfd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint send(SafeHandle sockfd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int shutdown(SafeHandle sockfd, int how);

    [LibraryImport("libc", EntryPoint = "shutdown", SetLastError = true)]
    public static partial int shutdown_fd(nint sockfd, int how);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsockopt(int sockfd, int level, int optname, int* optval, uint optlen);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, byte* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, byte* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    /// <summary>Writes one <c>epoll_event</c> at <paramref name="at"/>.</summary>
    public static void WriteEvent(byte* at, uint events, ulong data)
    {
        *(uint*)at = events;
        Unsafe.WriteUnaligned(at + EventDataOffset, data);
    }
}
