using System.Diagnostics;
using System.Globalization;

namespace Iot.LoadTool;

/// <summary>A point-in-time reading of wall clock, this process's CPU and (optionally) the broker's CPU.</summary>
internal readonly record struct CpuSample(long Timestamp, TimeSpan ToolCpu, double? BrokerCpuSeconds)
{
    // Linux USER_HZ: /proc/N/stat reports utime and stime in clock ticks of 1/100 s.
    private const double ClockTicksPerSecond = 100;

    public static CpuSample Take(int? brokerPid)
    {
        using var self = Process.GetCurrentProcess();
        return new CpuSample(Stopwatch.GetTimestamp(), self.TotalProcessorTime, brokerPid is { } pid ? ReadBrokerCpu(pid) : null);
    }

    private static double? ReadBrokerCpu(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid}/stat");
        }
        catch (IOException)
        {
            return null;
        }

        // The command name may contain spaces; fields are counted after its closing parenthesis.
        // After ")" come: state(3) ppid(4) ... utime(14) stime(15).
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        var utime = long.Parse(fields[11], CultureInfo.InvariantCulture);
        var stime = long.Parse(fields[12], CultureInfo.InvariantCulture);
        return (utime + stime) / ClockTicksPerSecond;
    }
}

/// <summary>Resident memory of a process, from <c>/proc/PID/status</c> (VmRSS).</summary>
internal static class ProcessMemory
{
    /// <summary>VmRSS in bytes, or null when there is no such process (or no pid).</summary>
    public static long? RssBytes(int? pid)
    {
        if (pid is not { } p)
        {
            return null;
        }

        try
        {
            foreach (var line in File.ReadLines($"/proc/{p}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    var kb = line["VmRSS:".Length..].Trim().Split(' ')[0];
                    return long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
                }
            }
        }
        catch (IOException)
        {
            return null;
        }

        return null;
    }
}
