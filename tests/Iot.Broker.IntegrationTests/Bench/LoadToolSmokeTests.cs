using System.Globalization;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.Bench;

/// <summary>The broker that the load-tool smoke runs share.</summary>
[CollectionDefinition(Name)]
public sealed class LoadToolCollectionDefinition : ICollectionFixture<BrokerFixture>
{
    public const string Name = "load tool";
}

/// <summary>
/// Proves that every scenario of bench/Iot.LoadTool still runs against the broker: about a second each with tiny sizes,
/// exit code 0, deliveries counted, nothing malformed. No figure is asserted: figures come from bench/compare-all.sh.
/// </summary>
[Collection(LoadToolCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class LoadToolSmokeTests(BrokerFixture broker)
{
    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("delivered", "fanin", "--qos", "1", "--publishers", "2", "--seconds", "1", "--warmup", "0")]
    [InlineData("delivered", "telemetry-fanin", "--publishers", "3", "--seconds", "1", "--warmup", "0", "--drain", "30")]
    [InlineData("delivered", "fanout", "--qos", "0", "--subscribers", "3", "--seconds", "1", "--warmup", "0")]
    [InlineData("delivered", "latency", "--rate", "200", "--seconds", "1", "--warmup", "0")]
    [InlineData("acked", "stream", "--devices", "2", "--seconds", "1", "--warmup", "0")]
    [InlineData("delivered", "slowconsumer", "--qos", "1", "--publishers", "2", "--seconds", "1", "--warmup", "0")]
    [InlineData("wildcard_received", "retained", "--count", "300", "--publishers", "2", "--quiet", "1")]
    [InlineData("opened", "idle", "--connections", "20", "--warm", "2", "--sources", "4", "--settle", "0")]
    public async Task Scenario_TinyRun_ExitsZeroAndCountsDeliveries(string countKey, string scenario, params string[] options)
    {
        var tool = Path.Combine(RepositoryPaths.Root, "bench", "Iot.LoadTool", "bin", RepositoryPaths.Configuration, "net10.0", "Iot.LoadTool.dll");
        Assert.True(File.Exists(tool), $"The load tool {tool} is missing: build the solution first.");
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        string[] args =
        [
            tool,
            scenario,
            .. options,
            "--port",
            broker.MqttPort.ToString(CultureInfo.InvariantCulture),
            "--broker-pid",
            Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
        ];

        var result = (await ChildProcess.RunAsync(dotnet, args, RunTimeout)).EnsureSuccess();

        var line = Assert.Single(result.OutputLines, l => l.StartsWith($"scenario={scenario} ", StringComparison.Ordinal));
        var values = line.Split(' ').Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        Assert.True(long.Parse(values[countKey], CultureInfo.InvariantCulture) > 0, $"{countKey} should be positive: {line}");
        Assert.Equal("0", values["errors"]);
        Assert.Equal("0", values["malformed"]);
        if (scenario == "telemetry-fanin")
        {
            // Every message is accounted for: after the drain, all that were sent arrived once.
            Assert.Equal("0", values["lost"]);
            Assert.Equal(values["sent"], values["received"]);
        }
    }
}
