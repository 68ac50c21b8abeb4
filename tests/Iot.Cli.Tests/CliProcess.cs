using System.Text.Json;
using Iot.TestUtilities;

namespace Iot.Cli.Tests;

/// <summary>
/// The built CLI as a child process: <c>dotnet iot.dll ...</c>, where iot.dll is the assembly this test run loaded
/// (the copy in the test output, from the same build), with the environment's IOT_URL and IOT_API_KEY removed so
/// that only the arguments count.
/// </summary>
internal static class CliProcess
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);

    /// <summary>The CLI assembly the tests run.</summary>
    public static string Dll { get; } = typeof(CliApp).Assembly.Location;

    /// <summary>Runs <c>iot</c> with <paramref name="args"/> to completion (killed after 90 s).</summary>
    public static async Task<ProcessResult> RunAsync(IReadOnlyDictionary<string, string?>? environment, params string[] args)
    {
        var variables = new Dictionary<string, string?> { ["IOT_URL"] = null, ["IOT_API_KEY"] = null, ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1" };
        foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
        {
            variables[name] = value;
        }

        // The SDK tells test hosts which dotnet runs them; the same one runs the CLI.
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var result = await ChildProcess.RunAsync(dotnet, [Dll, .. args], RunTimeout, environment: variables);
        Assert.False(result.TimedOut, $"The CLI did not finish within {RunTimeout.TotalSeconds} s: {result}");
        return result;
    }

    /// <summary>Runs <c>iot</c> and asserts exit code <paramref name="expected"/>, showing everything it printed when not.</summary>
    public static ProcessResult ExpectExit(this ProcessResult result, int expected)
    {
        ArgumentNullException.ThrowIfNull(result);
        Assert.True(result.ExitCode == expected, $"Expected exit code {expected}: {result}");
        return result;
    }

    /// <summary>Stdout parsed as one JSON document.</summary>
    public static JsonElement Json(this ProcessResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        try
        {
            using var document = JsonDocument.Parse(result.StandardOutput);
            return document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new InvalidOperationException($"Stdout is not one JSON document ({ex.Message}): {result}", ex);
        }
    }

    /// <summary>The value of a <c>Name:  value</c> line of a properties view.</summary>
    public static string Property(this ProcessResult result, string name)
    {
        ArgumentNullException.ThrowIfNull(result);
        var line = result.OutputLines.FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"No '{name}:' line: {result}");
        return line[(name.Length + 1)..].Trim();
    }

    /// <summary>The cells of a table's rows (split on runs of two or more spaces), header first.</summary>
    public static IReadOnlyList<string[]> TableRows(this ProcessResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return result.OutputLines.Select(l => System.Text.RegularExpressions.Regex.Split(l.Trim(), " {2,}")).ToList();
    }
}
