using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Xunit;

namespace Iot.TestUtilities;

/// <summary>
/// A real Azure Blob Storage emulator: Azurite's blob service (npm package <c>azurite</c>, installed in
/// <c>tests/tools/node</c> by <c>npm ci</c>, which scripts/test.sh runs) on a free loopback port, its workspace in a temp
/// directory, with <c>--disableTelemetry</c> (else it sends usage data to the internet), <c>--silent</c> and
/// <c>--skipApiVersionCheck</c> (the SDK may speak a newer service version than the emulator knows). Stopped (killed) and
/// its directory deleted at the end. A missing node or Azurite fails the test, never skips it.
/// </summary>
#pragma warning disable CA1001 // Disposed by xunit through IAsyncLifetime.DisposeAsync.
public sealed class AzuriteFixture : IAsyncLifetime
{
    /// <summary>Azurite's well-known development account (public, documented by Microsoft; not a secret).</summary>
    private const string Account = "devstoreaccount1";
    private const string AccountKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly TempDirectory _dir = new("iot-azurite");
    private readonly ConcurrentQueue<string> _lastLines = new();
    private Process? _process;

    /// <summary>The port the blob service listens on (127.0.0.1).</summary>
    public int Port { get; private set; }

    /// <summary>A connection string for the emulator's blob service with the development account's key.</summary>
    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={AccountKey};BlobEndpoint=http://127.0.0.1:{Port}/{Account};";

    public async Task InitializeAsync()
    {
        var node = ExternalClients.RequireTool("node", "nodejs");
        var main = Path.Combine(RepositoryPaths.NodeTools, "node_modules", "azurite", "dist", "src", "blob", "main.js");
        if (!File.Exists(main))
        {
            throw new InvalidOperationException(
                $"Azurite is not installed ({main} is missing). Run scripts/test.sh, which runs `npm ci` in {RepositoryPaths.NodeTools}.");
        }

        for (var attempt = 1; ; attempt++)
        {
            Port = FreePorts.One();
            try
            {
                await StartAsync(node, main);
                return;
            }
            catch (TimeoutException) when (attempt < 3)
            {
                // Another process may have taken the port between picking and binding: try another.
                await StopAsync();
            }
        }
    }

    public async Task DisposeAsync()
    {
        await StopAsync();
        _dir.Dispose();
    }

    private async Task StartAsync(string node, string main)
    {
        var start = new ProcessStartInfo(node)
        {
            ArgumentList =
            {
                main, "--blobHost", "127.0.0.1", "--blobPort", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--location", _dir.Path, "--disableTelemetry", "--silent", "--skipApiVersionCheck",
            },
            WorkingDirectory = _dir.Path,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        _process = Process.Start(start) ?? throw new InvalidOperationException("Azurite did not start.");
        _process.OutputDataReceived += Keep;
        _process.ErrorDataReceived += Keep;
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        await Eventually.WaitUntilAsync(async () =>
        {
            if (_process.HasExited)
            {
                throw new TimeoutException($"Azurite exited with {_process.ExitCode} during start: {string.Join(" | ", _lastLines)}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", Port);
                return true;
            }
            catch (SocketException)
            {
                return false; // not listening yet
            }
        }, TimeSpan.FromSeconds(60), $"Azurite listening on {Port}");
    }

    private void Keep(object? sender, DataReceivedEventArgs e)
    {
        if (e.Data is { } line)
        {
            _lastLines.Enqueue(line);
            while (_lastLines.Count > 5 && _lastLines.TryDequeue(out _))
            {
            }
        }
    }

    private async Task StopAsync()
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
}

#pragma warning restore CA1001
