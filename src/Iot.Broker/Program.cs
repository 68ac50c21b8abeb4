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

var app = BrokerHost.Create(args);
await app.RunAsync();
