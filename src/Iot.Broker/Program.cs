using Iot.Broker.Hosting;

// Socket completions run on the socket engine's threads (one per core) instead of being queued to the thread pool:
// a message read from a device is handled and forwarded on the thread that saw the socket become readable, with no
// hand-off. At 2 000 msg/s this halves the broker's CPU and lowers latency, with no loss of throughput at full load
// (docs/benchmarks.md, "Issue 8: inline socket completions"). .NET reads the variable when the first socket starts
// an asynchronous operation, which is after this line. DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=0 opts out.
const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";
if (Environment.GetEnvironmentVariable(InlineCompletions) is null)
{
    Environment.SetEnvironmentVariable(InlineCompletions, "1");
}

// Configuration files are checked for changes by polling (every 4 s) rather than by a recursive inotify watch of the
// working directory: the default data directory (./data) lies under it, so every durable write woke the watcher's
// thread: 4.6 % of a core, -11 % durable telemetry and +21 % CPU per message (docs/benchmarks.md, "Issue 8: the
// configuration watcher"). Reloading appsettings.json still works, within 4 s. DOTNET_USE_POLLING_FILE_WATCHER=false
// opts out.
const string PollingFileWatcher = "DOTNET_USE_POLLING_FILE_WATCHER";
if (Environment.GetEnvironmentVariable(PollingFileWatcher) is null)
{
    Environment.SetEnvironmentVariable(PollingFileWatcher, "true");
}

// A start-up failure (a port in use, an unusable data directory, a corrupt store, a bad setting) ends with one line
// naming the cause and exit code 1, not an unhandled exception and SIGABRT.
return await BrokerHost.RunAsync(args);
