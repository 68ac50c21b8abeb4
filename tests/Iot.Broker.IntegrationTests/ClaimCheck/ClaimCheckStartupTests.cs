using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.ClaimCheck;

/// <summary>
/// Claim-check settings are checked at start, with the built broker as a child process: the local store in cluster mode
/// (a directory other nodes cannot read) stops the start with exit code 1 and a line naming both settings, before any
/// NATS connection is needed.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClaimCheckStartupTests
{
    [Fact]
    public async Task LocalStoreInClusterMode_ExitsNamingTheSettings()
    {
        using var dataDir = new TempDirectory("iot-claimcheck-cluster");
        var dll = RepositoryPaths.BrokerDll;
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

        var result = await ChildProcess.RunAsync(dotnet,
            [dll, "--Iot:Mqtt:Port=0", "--Iot:Http:Port=0", $"--Iot:DataDir={dataDir.Path}", "--Iot:Cluster:Nats:Url=nats://127.0.0.1:1",
                "--Iot:ClaimCheck:Enabled=true", "--Iot:ClaimCheck:Topics:0=files/#"],
            TimeSpan.FromSeconds(60), Path.GetDirectoryName(dll),
            new Dictionary<string, string?> { ["Logging__Console__FormatterOptions__ColorBehavior"] = "Disabled" });

        Assert.Equal(1, result.ExitCode);
        var line = Assert.Single(result.OutputLines, l => l.Contains("Iot:ClaimCheck:Store is Local", StringComparison.Ordinal));
        Assert.Contains("Iot:Cluster:Nats:Url", line, StringComparison.Ordinal);
        Assert.Contains("AzureBlob", line, StringComparison.Ordinal);
    }
}
