using System.Net;
using System.Net.Sockets;
using Iot.TestUtilities;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Robustness;

/// <summary>
/// Issue 16, finding 18: a port in use killed the broker with an unhandled exception and SIGABRT. Every start-up
/// failure now ends with one line naming the cause (and the port or path) and exit code 1. Real child processes.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class StartupFailureTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("Iot:Mqtt:Port", "socket")]
    [InlineData("Iot:Mqtt:Port", "epoll")]
    [InlineData("Iot:Mqtt:Port", "kestrel")]
    [InlineData("Iot:Http:Port", "socket")]
    public async Task PortInUse_ExitsWithOneLineNamingThePort(string setting, string transport)
    {
        using var dataDir = new TempDirectory("iot-port-in-use");
        using var taken = new TcpListener(IPAddress.Any, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var result = await RunAsync(dataDir.Path, $"--{setting}={port}", $"--Iot:Mqtt:Transport={transport}");

        var line = AssertOneFailureLine(result);
        Assert.Contains("already in use", line, StringComparison.Ordinal);
        Assert.Contains($":{port}", line, StringComparison.Ordinal);
        Assert.Contains(setting, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DataDirectoryUnderAFile_ExitsWithOneLineNamingTheDirectory()
    {
        // Tests run as root, which chmod does not stop: a directory under a regular file cannot be made by anyone.
        using var temp = new TempDirectory("iot-datadir-file");
        var file = temp.Combine("not-a-directory");
        await File.WriteAllTextAsync(file, "x");
        var dataDir = Path.Combine(file, "data");

        var result = await RunAsync(dataDir);

        var line = AssertOneFailureLine(result);
        Assert.Contains("data directory", line, StringComparison.Ordinal);
        Assert.Contains(file, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GarbageSessionStore_ExitsWithOneLineNamingTheFile()
    {
        using var dataDir = new TempDirectory("iot-garbage-store");
        var store = dataDir.Combine("mqtt.db");
        await File.WriteAllBytesAsync(store, Enumerable.Range(0, 8192).Select(i => (byte)(i * 7)).ToArray());

        var result = await RunAsync(dataDir.Path);

        var line = AssertOneFailureLine(result);
        Assert.Contains(store, line, StringComparison.Ordinal);
        Assert.Contains("not a database", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InvalidSetting_ExitsWithOneLineNamingTheSetting()
    {
        using var dataDir = new TempDirectory("iot-bad-setting");
        var result = await RunAsync(dataDir.Path, "--Iot:Mqtt:MaxRetainedMessagesPerIdentity=-5");
        var line = AssertOneFailureLine(result);
        Assert.Contains("MaxRetainedMessagesPerIdentity", line, StringComparison.Ordinal);
    }

    private async Task<ProcessResult> RunAsync(string dataDir, params string[] extraArgs)
    {
        var dll = RepositoryPaths.BrokerDll;
        string[] args = [dll, "--Iot:Mqtt:Port=0", "--Iot:Http:Port=0", $"--Iot:DataDir={dataDir}", "--Iot:Security:AllowAnonymous=true", .. extraArgs];
        var environment = new Dictionary<string, string?>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_ENVIRONMENT"] = null,
            ["ASPNETCORE_URLS"] = null,
            ["Logging__Console__FormatterOptions__ColorBehavior"] = "Disabled",
        };
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var result = await ChildProcess.RunAsync(dotnet, args, Deadline, Path.GetDirectoryName(dll), environment);
        output.WriteLine(result.ToString());
        return result;
    }

    /// <summary>Exit code 1 in time, no unhandled exception or stack trace, and one critical line; returns its message.</summary>
    internal static string AssertOneFailureLine(ProcessResult result)
    {
        Assert.False(result.TimedOut, "the broker did not exit: " + result);
        Assert.Equal(1, result.ExitCode);
        var all = result.StandardOutput + result.StandardError;
        Assert.DoesNotContain("Unhandled exception", all, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", all, StringComparison.Ordinal);
        Assert.DoesNotContain("fail:", all, StringComparison.Ordinal);
        var lines = result.StandardOutput.Split('\n');
        var header = Assert.Single(lines, l => l.StartsWith("crit:", StringComparison.Ordinal));
        Assert.Contains("[1170]", header, StringComparison.Ordinal);
        var message = lines[Array.IndexOf(lines, header) + 1];
        Assert.Contains("The broker could not start: ", message, StringComparison.Ordinal);
        return message;
    }
}
