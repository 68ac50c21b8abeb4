using System.Globalization;
using System.Text.Json;

namespace Iot.TestUtilities;

/// <summary>
/// The built broker (<c>src/Iot.Broker/bin/{Configuration}/net10.0/Iot.Broker.dll</c>) as a real child process, for
/// tests that kill it (<c>kill -9</c>) or stop it (SIGTERM) and start it again on the same data directory.
/// Everything it prints is kept for the failure message.
/// </summary>
public sealed class BrokerProcess : IAsyncDisposable
{
    // Generous: a cluster node started while a NATS server is down waits out a stalled consumer create per key-value
    // watch it opens (docs/cluster.md, "Guarantees"): 23 s on an idle machine, over 60 s seen under a full CI run.
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(150);
    private readonly ChildProcess _process;

    private BrokerProcess(ChildProcess process, string dataDir, int? mqttPort, int? mqttTlsPort, int httpPort, int? httpsPort)
    {
        HttpsPort = httpsPort;
        _process = process;
        DataDir = dataDir;
        MqttPortOrNull = mqttPort;
        MqttTlsPort = mqttTlsPort;
        HttpPort = httpPort;
    }

    /// <summary>The data directory it was started on.</summary>
    public string DataDir { get; }

    /// <summary>The operating system's process id.</summary>
    public int Id => _process.Id;

    /// <summary>True once the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>MQTT over TCP.</summary>
    public int MqttPort => MqttPortOrNull ?? throw new InvalidOperationException("The broker reported no MQTT TCP port.");

    /// <summary>MQTT over TLS; null unless configured.</summary>
    public int? MqttTlsPort { get; }

    /// <summary>HTTP.</summary>
    public int HttpPort { get; }

    /// <summary>HTTPS (and <c>wss://</c>); null unless configured.</summary>
    public int? HttpsPort { get; }

    /// <summary>Everything the broker printed so far (stderr lines prefixed with <c>!</c>), for diagnostics.</summary>
    public string Output => _process.Output;

    private int? MqttPortOrNull { get; }

    /// <summary>
    /// Starts the broker on free ports with anonymous access and <paramref name="dataDir"/>, and waits until it wrote its
    /// ports file. Fails with the broker's output when it exits first or takes longer than a minute.
    /// </summary>
    public static async Task<BrokerProcess> StartAsync(string dataDir, params string[] extraArgs)
    {
        ArgumentNullException.ThrowIfNull(dataDir);
        var dll = RepositoryPaths.BrokerDll;
        Directory.CreateDirectory(dataDir);
        var portsFile = Path.Combine(dataDir, $"ports-{Guid.NewGuid():N}.json");
        string[] args =
        [
            dll,
            "--Iot:Mqtt:Port=0",
            "--Iot:Http:Port=0",
            $"--Iot:DataDir={dataDir}",
            "--Iot:Security:AllowAnonymous=true",
            $"--Iot:PortsFile={portsFile}",
            .. extraArgs,
        ];
        return await StartAsync(dll, args, Path.GetDirectoryName(dll)!, dataDir, portsFile);
    }

    /// <summary>
    /// Starts the broker the way a user does: in <paramref name="workingDirectory"/> (its content root, where it reads
    /// <c>appsettings.json</c>) with the default data directory <c>./data</c> under it and no security setting on the
    /// command line; only the ports are chosen free.
    /// </summary>
    public static async Task<BrokerProcess> StartInAsync(string workingDirectory, params string[] extraArgs)
    {
        ArgumentNullException.ThrowIfNull(workingDirectory);
        var dll = RepositoryPaths.BrokerDll;
        var portsFile = Path.Combine(workingDirectory, $"ports-{Guid.NewGuid():N}.json");
        string[] args = [dll, "--Iot:Mqtt:Port=0", "--Iot:Http:Port=0", $"--Iot:PortsFile={portsFile}", .. extraArgs];
        return await StartAsync(dll, args, workingDirectory, Path.Combine(workingDirectory, "data"), portsFile);
    }

    private static async Task<BrokerProcess> StartAsync(string dll, string[] args, string workingDirectory, string dataDir, string portsFile)
    {
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException(
                $"The built broker {dll} is missing: build it first (`dotnet build -c {RepositoryPaths.Configuration}`, which scripts/test.sh does).");
        }

        var environment = new Dictionary<string, string?>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_ENVIRONMENT"] = null,
            ["ASPNETCORE_URLS"] = null,
            // Program.cs chooses the configuration watcher; an inherited setting would hide what it chose.
            ["DOTNET_USE_POLLING_FILE_WATCHER"] = null,
        };
        // The SDK tells test hosts which dotnet runs them; the same one runs the broker.
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var process = ChildProcess.Start(dotnet, args, workingDirectory, environment);
        try
        {
            var deadline = DateTime.UtcNow + StartTimeout;
            while (!File.Exists(portsFile))
            {
                if (process.HasExited)
                {
                    await process.WaitForExitAsync(TimeSpan.FromSeconds(5));
                    throw new InvalidOperationException(
                        $"The broker exited with {process.ExitCode} before binding its ports.\n`{process.CommandLine}`\n{process.Output}");
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException(
                        $"The broker did not write {portsFile} within {StartTimeout.TotalSeconds} s.\n`{process.CommandLine}`\n{process.Output}");
                }

                await Task.Delay(50);
            }

            using var ports = JsonDocument.Parse(await File.ReadAllTextAsync(portsFile));
            File.Delete(portsFile);
            return new BrokerProcess(process, dataDir, ReadPort(ports, "mqtt"), ReadPort(ports, "mqtts"), ReadPort(ports, "http") ?? 0, ReadPort(ports, "https"));
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary><c>kill -9</c>: the broker and anything it started die at once, with no chance to flush or close.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        if (!await _process.WaitForExitAsync(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException($"The broker (pid {Id}) did not die after SIGKILL.\n{Output}");
        }
    }

    /// <summary>SIGTERM (<c>kill -TERM pid</c>) and wait for a graceful exit; returns the exit code.</summary>
    /// <exception cref="TimeoutException">Still running after <paramref name="timeout"/> (default 30 s); it is then killed.</exception>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(30);
        await _process.SignalAsync("TERM");
        if (!await _process.WaitForExitAsync(limit))
        {
            _process.Kill();
            throw new TimeoutException(string.Create(CultureInfo.InvariantCulture,
                $"The broker (pid {Id}) did not stop within {limit.TotalSeconds} s of SIGTERM and was killed.\n{Output}"));
        }

        return _process.ExitCode;
    }

    /// <summary>
    /// Waits until the broker has printed <paramref name="text"/>. The broker logs through a queue and the pipe is read
    /// on another thread, so a line logged before an event the test saw (a port bound, a metric set) may not be in
    /// <see cref="Output"/> yet: wait for it instead of reading <see cref="Output"/> at once.
    /// </summary>
    /// <exception cref="TimeoutException">Not printed within <paramref name="timeout"/>; the message holds the output.</exception>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        try
        {
            await Eventually.WaitUntilAsync(() => Output.Contains(text, StringComparison.Ordinal), timeout, $"the broker prints \"{text}\"");
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}\n{Output}", ex);
        }
    }

    /// <summary>Waits for the broker to exit on its own and for its output to be read to the end; false when the time ran out.</summary>
    public Task<bool> WaitForExitAsync(TimeSpan timeout) => _process.WaitForExitAsync(timeout);

    /// <summary>Kills the broker if it still runs.</summary>
    public ValueTask DisposeAsync() => _process.DisposeAsync();

    private static int? ReadPort(JsonDocument ports, string name) =>
        ports.RootElement.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetInt32() : null;
}
