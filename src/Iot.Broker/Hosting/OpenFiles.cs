namespace Iot.Broker.Hosting;

/// <summary>
/// The process's open-files limit and usage, read from <c>/proc/self</c> (Linux; null elsewhere). Every MQTT
/// connection is a file descriptor, so this limit, not <c>Iot:Mqtt:MaxConnections</c>, is what caps the connections
/// of a process whose limit is lower. The .NET runtime raises the soft limit to the hard one at start.
/// </summary>
internal static class OpenFiles
{
    /// <summary>Descriptors kept free, beyond those open at start, for the files and HTTP connections opened later.</summary>
    public const int Margin = 64;

    /// <summary>The soft and hard limits ("Max open files" in /proc/self/limits); null when unknown or unlimited.</summary>
    public static (long Soft, long Hard)? Limits()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (!line.StartsWith("Max open files", StringComparison.Ordinal))
                {
                    continue;
                }

                var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return fields.Length >= 2 && long.TryParse(fields[0], out var soft) && long.TryParse(fields[1], out var hard)
                    ? (soft, hard)
                    : null;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return null;
    }

    /// <summary>Descriptors open now (entries of /proc/self/fd); null when unknown.</summary>
    public static long? Open()
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            long count = 0;
            foreach (var _ in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
            {
                count++;
            }

            return count;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
