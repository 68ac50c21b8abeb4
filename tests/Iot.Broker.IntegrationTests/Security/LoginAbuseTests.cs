using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Iot.TestUtilities;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// Issue 16, finding 3: during a wrong-password flood a legitimate client still connects, failed logins back off,
/// and password hashing takes a bounded share of the cores.
/// </summary>
[Trait("Category", "Integration")]
public sealed class LoginAbuseTests(ITestOutputHelper output)
{
    private const int Iterations = 100_000; // the production default: each verification costs milliseconds of CPU
    private const string Device = "flood-dev";
    private const string Password = "the-right-password-1";
    private static readonly IPAddress LegitimateAddress = IPAddress.Parse("127.0.0.2");

    [Fact]
    public async Task WrongPasswordFloodFromOneAddress_LegitimateClientFromAnotherConnectsWithinTenSeconds()
    {
        await using var broker = await StartAsync();
        var result = await FloodAsync(broker, [IPAddress.Loopback], connectionsPerAddress: 48);

        AssertLegitimateConnectedWithinTenSeconds(result);
        Assert.True(result.Metrics("iot_mqtt_limit_hits_total{limit=\"login_backoff_delayed\"}") > 0);
        // One login per address on its way to the check (the pool has one worker on 2 cores): the rest get 0x89 at once.
        Assert.True(result.Metrics("iot_mqtt_limit_hits_total{limit=\"password_hash_busy\"}") > 0);
        // The flood is spaced by the back-off: far fewer verifications than attempts.
        Assert.True(result.Hashes < result.Attempts / 4, $"{result.Hashes} hashes for {result.Attempts} attempts");
    }

    [Fact]
    public async Task WrongPasswordFloodFromManyAddresses_HashingIsBoundedAndLegitimateClientConnectsWithinTenSeconds()
    {
        await using var broker = await StartAsync();
        var sources = Enumerable.Range(1, 32).Select(i => IPAddress.Parse("127.0.1." + i)).ToArray();
        var result = await FloodAsync(broker, sources, connectionsPerAddress: 3);

        AssertLegitimateConnectedWithinTenSeconds(result);
        // At most PasswordHashConcurrency (half the cores, at least one) verifications run at once.
        var cores = Math.Max(1, Environment.ProcessorCount / 2);
        // The broker's own gauge, sampled through the flood, never shows more running; and the CPU estimate (whose
        // "fastest verification" was measured in a moment of this machine's load, so it may be too slow by a few tens
        // of percent when the load drops during the flood: 1.26 was seen) stays well below one more worker.
        Assert.True(result.MaxRunning <= cores, $"{result.MaxRunning} verifications ran at once, the pool allows {cores}");
        Assert.True(result.HashCores <= cores + 0.5, $"hashing used {result.HashCores:F2} cores, the pool allows {cores}");
    }

    [Fact]
    public async Task CorrectPasswordAfterFailures_ResetsTheBackoffAndConnectsAtOnce()
    {
        await using var broker = await StartAsync();
        var source = IPAddress.Parse("127.0.0.3");
        var delays = new List<TimeSpan>();
        for (var i = 0; i < 3; i++)
        {
            var watch = Stopwatch.StartNew();
            var (code, _) = await LoopbackMqtt.ConnectAsync(source, broker.MqttPort, Device, Device, "wrong");
            delays.Add(watch.Elapsed);
            Assert.Equal(LoopbackMqtt.BadCredentials, code);
        }

        output.WriteLine("refusals after " + string.Join(", ", delays.Select(d => d.TotalSeconds.ToString("F2", System.Globalization.CultureInfo.InvariantCulture))) + " s");
        Assert.True(delays[2] >= TimeSpan.FromSeconds(1.9), $"third refusal after {delays[2]}"); // 0.5, 1, 2 s
        Assert.True(delays[2] > delays[0]);

        var (accepted, _) = await LoopbackMqtt.ConnectAsync(source, broker.MqttPort, Device, Device, Password);
        Assert.Equal(LoopbackMqtt.Accepted, accepted);
        var again = Stopwatch.StartNew();
        var (refused, _) = await LoopbackMqtt.ConnectAsync(source, broker.MqttPort, Device, Device, "wrong");
        Assert.Equal(LoopbackMqtt.BadCredentials, refused);
        // Without the reset this refusal would wait 4 s; with it 0.5 s. Compared with the 2 s refusal measured on the same
        // machine a moment ago rather than with a fixed bound, so that a busy machine cannot fail it (the exact
        // delays are unit-tested with a fake clock in LoginBackoffTests).
        Assert.True(again.Elapsed < delays[2], $"after a success the back-off starts again at 0.5 s, took {again.Elapsed} (the 2 s refusal took {delays[2]})");
    }

    private static Task<BrokerFixture> StartAsync() => BrokerFixture.StartAsync(
        "--Iot:Security:AllowAnonymous=false",
        $"--Iot:Security:PasswordIterations={Iterations}",
        $"--Iot:Security:Identities:0:Id={Device}",
        "--Iot:Security:Identities:0:Role=Device",
        $"--Iot:Security:Identities:0:Password={Password}",
        "--Iot:Mqtt:ConnectRatePerAddress=100000");

    /// <summary>
    /// Floods wrong passwords (for the device's username and for unknown ones) from <paramref name="sources"/> for two
    /// seconds, then connects the device with its right password from another address, retrying on Server unavailable
    /// as a device does, while the flood goes on; reports what it took.
    /// </summary>
    private async Task<FloodResult> FloodAsync(BrokerFixture broker, IPAddress[] sources, int connectionsPerAddress)
    {
        var hashCost = MeasureHashCost();
        using var stop = new CancellationTokenSource();
        var attempts = 0;
        var codes = new int[256];
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        var flooders = sources.SelectMany(source => Enumerable.Range(0, connectionsPerAddress).Select(i => Task.Run(async () =>
        {
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                var username = n++ % 2 == 0 ? Device : "nobody-" + i;
                var (code, _) = await LoopbackMqtt.ConnectAsync(source, broker.MqttPort, username, username, "wrong-" + n, timeout: TimeSpan.FromSeconds(20));
                Interlocked.Increment(ref attempts);
                Interlocked.Increment(ref codes[code & 0xFF]);
            }
        }))).ToArray();

        // The flood is under way once every flooding connection has been answered about once on average.
        var flooding = sources.Length * connectionsPerAddress;
        await Eventually.WaitUntilAsync(() => Volatile.Read(ref attempts) >= flooding, TimeSpan.FromSeconds(60), "the flood is under way");
        var hashesBefore = BrokerMetricsText.Value(await BrokerMetricsText.GetAsync(broker), "iot_mqtt_password_hashes_total");
        using var stopSampling = new CancellationTokenSource();
        var sampling = MaxRunningAsync(broker, stopSampling.Token);
        var hashWindow = Stopwatch.StartNew();
        var legitimate = Stopwatch.StartNew();
        var tries = 0;
        int result;
        do
        {
            tries++;
            (result, _) = await LoopbackMqtt.ConnectAsync(LegitimateAddress, broker.MqttPort, Device, Device, Password, timeout: TimeSpan.FromSeconds(30));
            if (result == LoopbackMqtt.ServerUnavailable)
            {
                await Task.Delay(100);
            }
        }
        while (result == LoopbackMqtt.ServerUnavailable && legitimate.Elapsed < TimeSpan.FromSeconds(30));

        var legitimateElapsed = legitimate.Elapsed;
        var hashesAtLogin = BrokerMetricsText.Value(await BrokerMetricsText.GetAsync(broker), "iot_mqtt_password_hashes_total");
        // Measure the flood a little longer: as many answers again after the legitimate login.
        var atLogin = Volatile.Read(ref attempts);
        await Eventually.WaitUntilAsync(() => Volatile.Read(ref attempts) >= atLogin + flooding, TimeSpan.FromSeconds(60), "the flood goes on after the login");
        var metrics = await BrokerMetricsText.GetAsync(broker);
        var windowSeconds = hashWindow.Elapsed.TotalSeconds;
        var seconds = wall.Elapsed.TotalSeconds;
        var cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds / seconds;
        await stopSampling.CancelAsync();
        var (maxRunning, samples) = await sampling;
        await stop.CancelAsync();
        await Task.WhenAll(flooders);

        var hashes = BrokerMetricsText.Value(metrics, "iot_mqtt_password_hashes_total");
        // Verifications finished in the window, less those already running when it opened (at most one per worker),
        // at the fastest a verification can run: an upper bound of the cores hashing used, whatever else the machine does.
        var pool = Math.Max(1, Environment.ProcessorCount / 2);
        var hashCores = Math.Max(0, hashes - hashesBefore - pool) * hashCost.TotalSeconds / windowSeconds;
        output.WriteLine($"flood from {sources.Length} address(es) x {connectionsPerAddress} connections: {attempts} attempts in {seconds:F1} s "
            + $"({attempts / seconds:F0}/s; CONNACK 4: {codes[4]}, 3: {codes[3]}, closed: {codes[255]})");
        output.WriteLine($"legitimate client: CONNACK {result} after {legitimateElapsed.TotalMilliseconds:F0} ms, {tries} attempt(s), "
            + $"{hashesAtLogin - hashesBefore} verifications meanwhile");
        output.WriteLine($"PBKDF2 ({Iterations} iterations) {hashCost.TotalMilliseconds:F1} ms each; {hashes} verifications in all, "
            + $"hashing about {hashCores:F2} cores during the flood, at most {maxRunning} running in {samples} samples; test process (broker and flood) {cpu:F2} cores of {Environment.ProcessorCount}");
        foreach (var line in metrics.Split('\n').Where(l => l.Contains("login_backoff", StringComparison.Ordinal) || l.Contains("password_hash", StringComparison.Ordinal)))
        {
            output.WriteLine(line);
        }

        Assert.Equal(LoopbackMqtt.Accepted, result);
        Assert.True(samples > 0, "the running verifications were never sampled");
        return new FloodResult(legitimateElapsed, hashesAtLogin - hashesBefore, hashCost, attempts, hashes, hashCores, maxRunning, metrics);
    }

    /// <summary>Samples <c>iot_mqtt_password_hashes_running</c> back to back until cancelled: the most seen, and how many samples.</summary>
    private static async Task<(double Max, int Samples)> MaxRunningAsync(BrokerFixture broker, CancellationToken stopping)
    {
        var max = 0.0;
        var samples = 0;
        while (!stopping.IsCancellationRequested)
        {
            var text = await BrokerMetricsText.GetAsync(broker);
            max = Math.Max(max, BrokerMetricsText.Value(text, "iot_mqtt_password_hashes_running"));
            samples++;
        }

        return (max, samples);
    }

    /// <summary>
    /// Ten seconds of wall time, or on a machine too busy for that (where every verification takes longer) no more
    /// verifications while the legitimate client waited than ten seconds hold at this machine's fastest hashing:
    /// what the client waits for is its turn among the verifications, and a busy machine slows each of them.
    /// </summary>
    private static void AssertLegitimateConnectedWithinTenSeconds(FloodResult result)
    {
        var tenSecondsOfHashing = TimeSpan.FromSeconds(10) / result.HashCost;
        Assert.True(
            result.LegitimateElapsed < TimeSpan.FromSeconds(10) || result.VerificationsWhileWaiting <= tenSecondsOfHashing,
            $"took {result.LegitimateElapsed} and {result.VerificationsWhileWaiting} verifications (ten seconds hold {tenSecondsOfHashing:F0})");
    }

    /// <summary>The fastest of a few verifications: a busy machine only makes one slower, never faster.</summary>
    private static TimeSpan MeasureHashCost()
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes("warm-up"), salt, 1000, HashAlgorithmName.SHA256, 32);
        var fastest = TimeSpan.MaxValue;
        for (var i = 0; i < 5; i++)
        {
            var watch = Stopwatch.StartNew();
            Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes("x"), salt, Iterations, HashAlgorithmName.SHA256, 32);
            fastest = watch.Elapsed < fastest ? watch.Elapsed : fastest;
        }

        return fastest;
    }

    private sealed record FloodResult(
        TimeSpan LegitimateElapsed, double VerificationsWhileWaiting, TimeSpan HashCost, int Attempts, double Hashes, double HashCores, double MaxRunning,
        string MetricsText)
    {
        public double Metrics(string sample) => BrokerMetricsText.Value(MetricsText, sample);
    }
}
