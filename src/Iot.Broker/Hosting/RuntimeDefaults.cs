namespace Iot.Broker.Hosting;

/// <summary>
/// Process-wide .NET settings the broker changes from their defaults. They are environment variables that .NET reads
/// once, so <see cref="Apply"/> runs first in <c>Program.cs</c>, before the first socket or configuration watcher
/// starts. An operator who sets a variable keeps their value.
/// </summary>
public static class RuntimeDefaults
{
    /// <summary>
    /// Socket completions run on the socket engine's threads (one per core) instead of being queued to the thread
    /// pool: a message read from a device is handled and forwarded on the thread that saw the socket become readable,
    /// with no hand-off. At 2 000 msg/s this halves the broker's CPU and lowers latency, with no loss of throughput at
    /// full load (docs/benchmarks.md, "Issue 8: inline socket completions"). <c>=0</c> opts out.
    /// </summary>
    public const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// Configuration files are checked for changes by polling (every 4 s) rather than by a recursive inotify watch of
    /// the working directory: the default data directory (./data) lies under it, so every durable write woke the
    /// watcher's thread: 4.6 % of a core, -11 % durable telemetry and +21 % CPU per message (docs/benchmarks.md,
    /// "Issue 8: the configuration watcher"). Reloading appsettings.json still works, within 4 s. <c>=false</c> opts out.
    /// </summary>
    public const string PollingFileWatcher = "DOTNET_USE_POLLING_FILE_WATCHER";

    /// <summary>Sets each variable the operator has not set.</summary>
    public static void Apply()
    {
        SetUnlessSet(InlineCompletions, "1");
        SetUnlessSet(PollingFileWatcher, "true");
    }

    private static void SetUnlessSet(string name, string value)
    {
        if (Environment.GetEnvironmentVariable(name) is null)
        {
            Environment.SetEnvironmentVariable(name, value);
        }
    }
}
