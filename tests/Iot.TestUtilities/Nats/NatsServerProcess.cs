using System.Globalization;
using System.Text;

namespace Iot.TestUtilities.Nats;

/// <summary>
/// One <c>nats-server</c> of a <see cref="NatsClusterFixture"/>: its ports, its directory (config file and JetStream
/// store) and, while it runs, its process. Keeps the output of every run, for failure messages.
/// </summary>
internal sealed class NatsServerProcess : IAsyncDisposable
{
    /// <summary>Debian's package installs the server here (not on an ordinary user's PATH); scripts/test.sh installs it.</summary>
    public const string DebianBinary = "/usr/sbin/nats-server";

    private static readonly TimeSpan ListenTimeout = TimeSpan.FromSeconds(30);
    private readonly StringBuilder _previousRuns = new();
    private ChildProcess? _process;

    public NatsServerProcess(int index, string directory, int clientPort, int clusterPort, int monitorPort)
    {
        Index = index;
        Name = "n" + index.ToString(CultureInfo.InvariantCulture);
        Directory = directory;
        ClientPort = clientPort;
        ClusterPort = clusterPort;
        MonitorPort = monitorPort;
    }

    public int Index { get; }

    /// <summary>The <c>server_name</c>, which JetStream reports as a stream's or the metadata's leader.</summary>
    public string Name { get; }

    public string Directory { get; }

    public int ClientPort { get; }

    public int ClusterPort { get; }

    public int MonitorPort { get; }

    public string Url => $"nats://127.0.0.1:{ClientPort.ToString(CultureInfo.InvariantCulture)}";

    public Uri MonitorUri => new($"http://127.0.0.1:{MonitorPort.ToString(CultureInfo.InvariantCulture)}/");

    public string ConfigFile => Path.Combine(Directory, "nats-server.conf");

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Everything every run of this server printed (nats-server logs to stderr: those lines start with <c>!</c>).</summary>
    public string Output => _previousRuns + (_process?.Output ?? "");

    /// <summary>The path of the server binary: <c>nats-server</c> on PATH, else Debian's <c>/usr/sbin/nats-server</c>.</summary>
    public static string FindBinary()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries).Append("/usr/sbin").Append("/usr/local/bin")
            .Select(d => Path.Combine(d, "nats-server")).FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException(
                $"nats-server was not found (looked in PATH and {DebianBinary}). Install it: scripts/test.sh installs it (Debian package 'nats-server').");
    }

    /// <summary>
    /// Writes the config file: JetStream with its store in this server's directory, big payloads and control lines
    /// (long MQTT topics), and when <paramref name="routePorts"/> has more than this server, a cluster with routes to all.
    /// </summary>
    public async Task WriteConfigAsync(IReadOnlyList<int> routePorts)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var config = new StringBuilder();
        config.Append(CultureInfo.InvariantCulture, $"server_name: {Name}\n");
        config.Append(CultureInfo.InvariantCulture, $"listen: 127.0.0.1:{ClientPort}\n");
        config.Append(CultureInfo.InvariantCulture, $"http: 127.0.0.1:{MonitorPort}\n");
        config.Append("max_payload: 8MB\n");
        config.Append("max_control_line: 64KB\n");
        config.Append("max_pending: 64MB\n");
        if (Environment.GetEnvironmentVariable("IOT_TEST_NATS_DEBUG") == "1")
        {
            // For chasing a cluster failure by hand: the servers' debug log (JetStream's apply and catch-up decisions).
            config.Append("debug: true\n");
        }

        config.Append(CultureInfo.InvariantCulture, $"jetstream {{\n  store_dir: \"{Path.Combine(Directory, "store")}\"\n}}\n");
        if (routePorts.Count > 1)
        {
            var routes = string.Join(", ", routePorts.Select(p => $"nats-route://127.0.0.1:{p.ToString(CultureInfo.InvariantCulture)}"));
            config.Append(CultureInfo.InvariantCulture, $"cluster {{\n  name: iot-test\n  listen: 127.0.0.1:{ClusterPort}\n  routes: [{routes}]\n}}\n");
        }

        await File.WriteAllTextAsync(ConfigFile, config.ToString());
    }

    /// <summary>Starts the server and waits until it listens for clients (and routes, when clustered).</summary>
    /// <exception cref="NatsPortInUseException">A port was taken by another process between picking and binding.</exception>
    /// <exception cref="InvalidOperationException">It exited or did not listen in time; the message holds its last lines.</exception>
    public async Task StartAsync(bool clustered)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"nats-server {Name} already runs.");
        }

        await DisposeProcessAsync();
        _process = ChildProcess.Start(FindBinary(), ["-c", ConfigFile], Directory);
        var deadline = DateTime.UtcNow + ListenTimeout;
        while (true)
        {
            var output = _process.Output;
            if (output.Contains("Server is ready", StringComparison.Ordinal)
                && (!clustered || output.Contains("Listening for route connections", StringComparison.Ordinal)))
            {
                return;
            }

            if (_process.HasExited)
            {
                await _process.WaitForExitAsync(TimeSpan.FromSeconds(5));
                var message = string.Create(CultureInfo.InvariantCulture,
                    $"nats-server {Name} exited with {_process.ExitCode} during start (ports {ClientPort}, {ClusterPort}, {MonitorPort}): {LastLines(_process.Output)}");
                throw _process.Output.Contains("address already in use", StringComparison.Ordinal)
                    ? new NatsPortInUseException(message)
                    : new InvalidOperationException(message);
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                    $"nats-server {Name} did not listen within {ListenTimeout.TotalSeconds} s: {LastLines(output)}"));
            }

            await Task.Delay(20);
        }
    }

    /// <summary>SIGKILL (<c>kill -9</c>) and wait until it is gone.</summary>
    public async Task KillAsync()
    {
        if (_process is not { } process)
        {
            return;
        }

        process.Kill();
        if (!await process.WaitForExitAsync(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException($"nats-server {Name} (pid {process.Id}) did not die after SIGKILL.");
        }

        await DisposeProcessAsync();
    }

    /// <summary>The last lines of this server's output, on one line, for exception messages.</summary>
    public string LastLines(int count = 15) => LastLines(Output, count);

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            process.Kill();
            await process.WaitForExitAsync(TimeSpan.FromSeconds(10));
        }

        await DisposeProcessAsync();
    }

    private static string LastLines(string output, int count = 15) =>
        string.Join(" | ", output.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(count).Select(l => l.Trim()));

    private async Task DisposeProcessAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            _previousRuns.Append(process.Output).Append(CultureInfo.InvariantCulture, $"  --- (pid {process.Id} ended) ---\n");
            await process.DisposeAsync();
        }
    }
}

/// <summary>nats-server could not bind a port that was free when it was picked (another process took it).</summary>
internal sealed class NatsPortInUseException(string message) : InvalidOperationException(message);
