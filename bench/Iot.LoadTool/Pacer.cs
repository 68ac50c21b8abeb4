using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Iot.LoadTool;

/// <summary>
/// Waits until a <see cref="Stopwatch"/> timestamp with sub-millisecond precision and without burning a core:
/// <c>nanosleep</c> (a high-resolution timer on Linux) until shortly before the deadline, then a short spin.
/// Thread.Sleep and timers wake in millisecond steps, which would send a fixed rate in bursts.
/// </summary>
internal static partial class Pacer
{
    private const long SpinNanoseconds = 60_000;

    public static void SleepUntil(long timestamp)
    {
        while (true)
        {
            var remaining = timestamp - Stopwatch.GetTimestamp();
            if (remaining <= 0)
            {
                return;
            }

            var nanoseconds = (long)(remaining * (1e9 / Stopwatch.Frequency));
            if (nanoseconds > 2 * SpinNanoseconds)
            {
                Sleep(nanoseconds - SpinNanoseconds);
            }
            else
            {
                Thread.SpinWait(20);
            }
        }
    }

    private static void Sleep(long nanoseconds)
    {
        if (!OperatingSystem.IsLinux())
        {
            Thread.Sleep(TimeSpan.FromTicks(Math.Max(1, nanoseconds / 100)));
            return;
        }

        var request = new Timespec { Seconds = nanoseconds / 1_000_000_000, Nanoseconds = nanoseconds % 1_000_000_000 };
        _ = NanoSleep(in request, IntPtr.Zero);
    }

    [LibraryImport("libc", EntryPoint = "nanosleep")]
    private static partial int NanoSleep(in Timespec request, IntPtr remaining);

    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
