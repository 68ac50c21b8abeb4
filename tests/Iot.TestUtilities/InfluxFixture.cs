using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Xunit;

namespace Iot.TestUtilities;

/// <summary>
/// A real <c>influxd</c> (Debian's influxdb 1.x) on a free loopback port with its data in a temp directory, configured
/// as scripts/test.sh installs it (the Debian package). It can be stopped and started again on the same port and data (an outage).
/// Fails with a clear message when influxd is not installed: these tests never skip silently.
/// </summary>
#pragma warning disable CA1001 // Disposed by xunit through IAsyncLifetime.DisposeAsync.
public sealed class InfluxFixture : IAsyncLifetime
{
    public const string Database = "iot";
    private readonly TempDirectory _dir = new("iot-influxd");
    private Process? _process;

    public Uri Url { get; private set; } = null!;

    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(10) };

    public async Task InitializeAsync()
    {
        var binary = FindInfluxd() ?? throw new InvalidOperationException(
            "influxd was not found (looked in PATH and /usr/bin). Install it: scripts/test.sh installs it (Debian package 'influxdb').");
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort();
            var rpc = FreePort();
            Url = new Uri($"http://127.0.0.1:{port}/");
            await File.WriteAllTextAsync(_dir.Combine("influxdb.conf"), string.Create(CultureInfo.InvariantCulture, $"""
                reporting-enabled = false
                bind-address = "127.0.0.1:{rpc}"
                [meta]
                  dir = "{_dir.Combine("meta")}"
                [data]
                  dir = "{_dir.Combine("data")}"
                  wal-dir = "{_dir.Combine("wal")}"
                  query-log-enabled = false
                [monitor]
                  store-enabled = false
                [http]
                  enabled = true
                  bind-address = "127.0.0.1:{port}"
                  log-enabled = false
                """));
            try
            {
                await StartAsync(binary);
                break;
            }
            catch (TimeoutException) when (attempt < 3)
            {
                // Another process may have taken a port between picking and binding: try new ones.
                await StopAsync();
            }
        }

        await QueryAsync($"CREATE DATABASE \"{Database}\"", post: true);
    }

    public async Task DisposeAsync()
    {
        await StopAsync();
        Http.Dispose();
        _dir.Dispose();
    }

    /// <summary>Stops influxd (SIGKILL: an abrupt outage) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync();
            process.Dispose();
        }
    }

    /// <summary>Starts influxd again on the same port and data.</summary>
    public Task RestartAsync() => StartAsync(FindInfluxd()!);

    public async Task<JsonElement> QueryAsync(string query, bool post = false)
    {
        var uri = new Uri(Url, $"query?db={Database}&q={Uri.EscapeDataString(query)}");
        using var response = post ? await Http.PostAsync(uri, null) : await Http.GetAsync(uri);
        response.EnsureSuccessStatusCode();
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.Clone();
    }

    /// <summary>The first value of the first series of a single-value query (0 when no series).</summary>
    public async Task<double> ScalarAsync(string query)
    {
        var result = (await QueryAsync(query)).GetProperty("results")[0];
        return result.TryGetProperty("series", out var series) ? series[0].GetProperty("values")[0][1].GetDouble() : 0;
    }

    private async Task StartAsync(string binary)
    {
        var start = new ProcessStartInfo(binary)
        {
            ArgumentList = { "-config", _dir.Combine("influxdb.conf") },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        _process = Process.Start(start) ?? throw new InvalidOperationException("influxd did not start.");
        // The last lines influxd wrote, to say why it exited if it does during start.
        var lastLines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        void Keep(object? sender, DataReceivedEventArgs e)
        {
            if (e.Data is { } line)
            {
                lastLines.Enqueue(line);
                while (lastLines.Count > 5 && lastLines.TryDequeue(out _))
                {
                }
            }
        }

        _process.OutputDataReceived += Keep;
        _process.ErrorDataReceived += Keep;
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new TimeoutException($"influxd exited with {_process.ExitCode} during start: {string.Join(" | ", lastLines)}");
            }

            try
            {
                using var ping = await Http.GetAsync(new Uri(Url, "ping"));
                if (ping.StatusCode == HttpStatusCode.NoContent)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("influxd did not answer /ping within 30 s.");
    }

    private static string? FindInfluxd()
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries).Append("/usr/bin").Append("/usr/local/bin")
            .Select(d => Path.Combine(d, "influxd")).FirstOrDefault(File.Exists);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

#pragma warning restore CA1001

