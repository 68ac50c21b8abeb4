using System.Text.Json;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.Simulator;

/// <summary>
/// The built simulator (<c>devices/simulator/bin/{Configuration}/net10.0/iot-simulator.dll</c>, built through this
/// project's reference) as a real child process; everything it prints is kept for the failure message.
/// </summary>
internal sealed class SimulatorProcess : IAsyncDisposable
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(20);
    private readonly ChildProcess _process;

    private SimulatorProcess(ChildProcess process) => _process = process;

    /// <summary>The simulator's dll.</summary>
    public static string Dll => Path.Combine(RepositoryPaths.Root, "devices", "simulator", "bin", RepositoryPaths.Configuration, "net10.0", "iot-simulator.dll");

    /// <summary>Everything printed so far (stderr lines prefixed with <c>!</c>).</summary>
    public string Output => _process.Output;

    /// <summary>The exit code, once exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Starts <c>iot-simulator</c> with <paramref name="args"/> (output redirected, so one status line per tick).</summary>
    public static SimulatorProcess Start(params string[] args)
    {
        if (!File.Exists(Dll))
        {
            throw new InvalidOperationException($"The built simulator {Dll} is missing: build the solution (`dotnet build -c {RepositoryPaths.Configuration}`).");
        }

        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        return new SimulatorProcess(ChildProcess.Start(dotnet, [Dll, .. args], Path.GetDirectoryName(Dll)));
    }

    /// <summary>Waits for a status line with <c>connected=N/N</c>.</summary>
    public Task WaitForAllConnectedAsync(int devices, TimeSpan timeout) =>
        _process.WaitForLineAsync(l => l.Contains($" connected={devices}/{devices} ", StringComparison.Ordinal), timeout, $"connected={devices}/{devices}");

    /// <summary>Ctrl+C (SIGINT), as a user would; returns the exit code.</summary>
    public async Task<int> InterruptAsync()
    {
        await _process.SignalAsync("INT");
        return await WaitForExitAsync();
    }

    /// <summary>Waits for the process to end (by its <c>--duration</c>); returns the exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan? timeout = null)
    {
        var limit = timeout ?? ExitTimeout;
        if (!await _process.WaitForExitAsync(limit))
        {
            throw new TimeoutException($"The simulator did not exit within {limit.TotalSeconds} s.\n`{_process.CommandLine}`\n{Output}");
        }

        return _process.ExitCode;
    }

    /// <summary>The <c>--json-summary</c> line.</summary>
    public JsonElement Summary()
    {
        var line = _process.OutputLines.LastOrDefault(l => l.StartsWith('{'))
            ?? throw new InvalidOperationException($"The simulator printed no JSON summary.\n{Output}");
        using var json = JsonDocument.Parse(line);
        return json.RootElement.Clone();
    }

    /// <summary>Kills the simulator if it still runs.</summary>
    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
