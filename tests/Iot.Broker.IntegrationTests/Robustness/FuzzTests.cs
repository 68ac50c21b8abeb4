using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Text;
using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Robustness;

/// <summary>
/// The robustness test: while a well-behaved publisher and subscriber exchange a QoS 1 heartbeat every 100 ms, many
/// connections send mutated MQTT 3.1.1 and 5.0 packets (<see cref="PacketMutator"/>). The broker must keep the
/// heartbeat flowing, accept new clients afterwards, and return to its connection count and memory once the fuzz
/// connections are gone. Settings come from the environment (see <see cref="FuzzSettings"/>); the long form in
/// <c>docs/robustness.md</c> is this test with bigger numbers.
/// </summary>
[Trait("Category", "Integration")]
public sealed class FuzzTests(ITestOutputHelper output)
{
    private const int MaxPacketSize = 65_536;

    /// <summary>Managed heap growth allowed once the fuzz connections are closed. Retained messages are bounded by the
    /// mutator's topic set (64 names, payloads up to 64 KiB: at most 4 MiB); the rest is slack for caches and pools.</summary>
    private const long ManagedMemoryBound = 64L << 20;

    /// <summary>Working-set growth allowed after an aggressive GC: the managed bound plus native buffers (sockets, pipes) and JIT.</summary>
    private const long WorkingSetBound = 128L << 20;

    // A stall, not a latency target: CI runs other integration tests beside this one on 2 cores.
    private static readonly TimeSpan MaxHeartbeatGap = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task MutatedPackets_FromManyConnections_BrokerKeepsServingAndReturnsToBaseline()
    {
        var settings = FuzzSettings.FromEnvironment();
        output.WriteLine(settings.ToString());

        // Every fuzz connection comes from 127.0.0.1, under the default per-address connect limiter: a burst beyond its
        // rate is answered later, not refused, and a refused connection costs the address nothing, so the new clients
        // after the run (RoundTripWithNewClientsAsync, from the same address) must get in (issue 16, finding 2). The
        // login back-off is off: every fuzz login is the same unknown user from the same address, so with it a refusal
        // waits up to 2 x LoginBackoffMaxSeconds and the run would test the back-off (LoginAbuseTests does) instead of
        // the packet handling.
        await using var broker = await BrokerFixture.StartAsync($"--Iot:Mqtt:MaxPacketSize={MaxPacketSize}", "--Iot:Security:LoginBackoffBaseMilliseconds=0");
        using var brokerLog = new WarningCollector();
        broker.App.Services.GetRequiredService<ILoggerFactory>().AddProvider(brokerLog);
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(10) };

        await using var heartbeat = await Heartbeat.StartAsync(broker);
        await heartbeat.WaitForBeatsAsync(5, TimeSpan.FromSeconds(10));
        var baselineConnections = await MetricAsync(http, "iot_mqtt_connections");
        var before = MemorySample.Take();

        var fuzz = new FuzzRun(broker.MqttPort, settings, MaxPacketSize);
        var result = await fuzz.RunAsync();

        long connections = -1;
        var drained = await SucceedsAsync(async () => connections = await Eventually.WaitForAsync(
            () => MetricAsync(http, "iot_mqtt_connections"), c => c == baselineConnections, TimeSpan.FromSeconds(30),
            "iot_mqtt_connections back to the heartbeat clients"));
        connections = await MetricAsync(http, "iot_mqtt_connections");
        var after = MemorySample.Take();
        await SucceedsAsync(async () => after = await Eventually.WaitForAsync(
            () => Task.FromResult(MemorySample.Take()), m => m.ManagedBytes - before.ManagedBytes < ManagedMemoryBound, TimeSpan.FromSeconds(20),
            "managed memory back within the bound"));
        var beats = await heartbeat.StopAsync();

        var newClientsServed = await SucceedsAsync(() => RoundTripWithNewClientsAsync(broker));
        using var health = await http.GetAsync(new Uri("healthz", UriKind.Relative));
        var metrics = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));

        var report = new StringBuilder()
            .AppendLine(result.ToString())
            .AppendLine(beats.ToString())
            .AppendLine(CultureInfo.InvariantCulture, $"connections: baseline {baselineConnections}, after the run {connections}")
            .AppendLine(CultureInfo.InvariantCulture, $"memory before: {before}")
            .AppendLine(CultureInfo.InvariantCulture, $"memory after:  {after} (managed {Mib(after.ManagedBytes - before.ManagedBytes):+0.0;-0.0} MiB, working set {Mib(after.WorkingSetBytes - before.WorkingSetBytes):+0.0;-0.0} MiB)")
            .AppendLine(CultureInfo.InvariantCulture, $"/healthz: {(int)health.StatusCode}; broker warnings and errors during the run: {brokerLog.Count}")
            .AppendLine("broker counters:");
        foreach (var line in metrics.Split('\n').Where(l => l.StartsWith("iot_mqtt_", StringComparison.Ordinal)))
        {
            report.Append("  ").AppendLine(line);
        }

        foreach (var entry in brokerLog.Entries)
        {
            report.Append("  log: ").AppendLine(entry);
        }

        if (beats.MaxGap > MaxHeartbeatGap)
        {
            report.AppendLine("fuzz sequences running around the longest heartbeat gap:").AppendLine(fuzz.DescribeSequencesAround(beats.MaxGapStart, beats.MaxGapEnd));
        }

        if (result.ConnAckTimeouts.Count > 0)
        {
            report.AppendLine("sequences whose valid CONNECT got no answer:").AppendLine(fuzz.Describe(result.ConnAckTimeouts));
        }

        output.WriteLine(report.ToString());

        Assert.True(result.MutatedPackets >= settings.RequiredPackets,
            $"only {result.MutatedPackets} mutated packets were sent within {settings.Duration.TotalSeconds} s (required {settings.RequiredPackets})");
        Assert.Empty(beats.Errors);
        Assert.True(beats.Missing.Count == 0, $"heartbeats lost: {string.Join(", ", beats.Missing.Take(20))}");
        Assert.True(beats.MaxGap <= MaxHeartbeatGap, $"the heartbeat stalled for {beats.MaxGap.TotalSeconds:F2} s (limit {MaxHeartbeatGap.TotalSeconds} s)");
        Assert.Empty(result.ConnAckTimeouts);
        Assert.True(drained, $"iot_mqtt_connections stayed at {connections}, not back to the baseline {baselineConnections}");
        Assert.True(newClientsServed, "a new MQTT 3.1.1 and MQTT 5 client could not connect and round-trip a message after the run");
        Assert.Equal(System.Net.HttpStatusCode.OK, health.StatusCode);
        Assert.True(after.ManagedBytes - before.ManagedBytes < ManagedMemoryBound,
            $"managed memory grew by {Mib(after.ManagedBytes - before.ManagedBytes):F1} MiB (bound {Mib(ManagedMemoryBound)} MiB)");
        Assert.True(after.WorkingSetBytes - before.WorkingSetBytes < WorkingSetBound,
            $"the working set grew by {Mib(after.WorkingSetBytes - before.WorkingSetBytes):F1} MiB (bound {Mib(WorkingSetBound)} MiB)");
        Assert.True(brokerLog.Count == 0, $"the broker logged {brokerLog.Count} warnings or errors (see the output)");
    }

    private static async Task RoundTripWithNewClientsAsync(BrokerFixture broker)
    {
        var topic = TestIds.Topic("after-fuzz");
        await using var subscriber = await TestClient.ConnectAsync(broker, Ids.Client("after-fuzz-sub"), version: MqttProtocolVersion.V311);
        await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("after-fuzz-pub"));
        await subscriber.SubscribeAsync(topic);
        await publisher.PublishAsync(topic, "still serving");
        Assert.Equal("still serving", (await subscriber.ReceiveAsync()).ConvertPayloadToString());
    }

    /// <summary>Runs a check that may throw, so that the report is written before the assertions.</summary>
    private async Task<bool> SucceedsAsync(Func<Task> check)
    {
        try
        {
            await check();
            return true;
        }
        catch (Exception ex) when (ex is TimeoutException or Xunit.Sdk.XunitException or MQTTnet.Exceptions.MqttCommunicationException or HttpRequestException)
        {
            output.WriteLine(ex.ToString());
            return false;
        }
    }

    private static async Task<long> MetricAsync(HttpClient http, string name)
    {
        var text = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(name + " ", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(name.Length + 1), CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException($"{name} is not in /metrics");
    }

    private static double Mib(long bytes) => bytes / 1048576.0;

    /// <summary>Memory of this process, which hosts the broker, after an aggressive full collection.</summary>
    private readonly record struct MemorySample(long ManagedBytes, long WorkingSetBytes)
    {
        public static MemorySample Take()
        {
            GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            var managed = GC.GetTotalMemory(forceFullCollection: true);
            using var process = Process.GetCurrentProcess();
            return new MemorySample(managed, process.WorkingSet64);
        }

        public override string ToString() =>
            string.Create(CultureInfo.InvariantCulture, $"managed {Mib(ManagedBytes):F1} MiB, working set {Mib(WorkingSetBytes):F1} MiB");
    }

    /// <summary>Collects what the broker logs at Warning and above: an exception escaping a connection is a finding.</summary>
    private sealed class WarningCollector : ILoggerProvider
    {
        private const int Kept = 50;
        private readonly List<string> _entries = [];
        private readonly Dictionary<string, int> _kinds = [];
        private int _count;

        public int Count => Volatile.Read(ref _count);

        /// <summary>How often each kind (level, category, event, exception) was logged, then the first of each in full.</summary>
        public IReadOnlyList<string> Entries
        {
            get
            {
                lock (_entries)
                {
                    return [.. _kinds.Select(k => $"{k.Value} x {k.Key}"), .. _entries];
                }
            }
        }

        public ILogger CreateLogger(string categoryName) => new Category(this, categoryName);

        public void Dispose()
        {
        }

        private void Record(string category, LogLevel level, EventId eventId, string message, Exception? exception)
        {
            Interlocked.Increment(ref _count);
            var kind = $"{level} {category} [{eventId.Id}] {exception?.GetType().Name} {exception?.Message}";
            lock (_entries)
            {
                if (_kinds.TryGetValue(kind, out var seen))
                {
                    _kinds[kind] = seen + 1;
                }
                else if (_kinds.Count < Kept)
                {
                    // The first of each kind in full, with its stack trace.
                    _kinds[kind] = 1;
                    _entries.Add($"{level} {category} [{eventId.Id}] {message}{(exception is null ? "" : "\n" + exception)}");
                }
            }
        }

        private sealed class Category(WarningCollector collector, string name) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel))
                {
                    collector.Record(name, logLevel, eventId, formatter(state, exception), exception);
                }
            }
        }
    }
}
