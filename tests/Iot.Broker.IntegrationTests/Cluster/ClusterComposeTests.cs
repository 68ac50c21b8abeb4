using System.Text.Json;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster;

/// <summary>
/// docker-compose.cluster.yml and deploy/cluster, checked without a Docker engine (none runs here): the file validates
/// through Debian's docker-compose, the brokers start in cluster mode with the compose file's settings on a real NATS
/// cluster, and the balancer and NATS configs name every broker and NATS service.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterComposeTests(ITestOutputHelper output)
{
    private const string ComposeFile = "docker-compose.cluster.yml";
    private static readonly string[] Brokers = ["broker1", "broker2", "broker3"];
    private static readonly string[] NatsServers = ["nats1", "nats2", "nats3"];

    [Fact]
    public async Task Config_IsValid_WithThreeNatsServersThreeBrokersBalancerAndSimulator()
    {
        var compose = ExternalClients.RequireTool("docker-compose", "docker-compose");

        var valid = await ChildProcess.RunAsync(compose, ["-f", ComposeFile, "config", "--quiet"], TimeSpan.FromSeconds(60), RepositoryPaths.Root);
        Assert.True(valid.ExitCode == 0, $"{ComposeFile} does not validate:\n{valid}");
        var services = await ChildProcess.RunAsync(compose, ["-f", ComposeFile, "config", "--services"], TimeSpan.FromSeconds(60), RepositoryPaths.Root);
        Assert.True(services.ExitCode == 0, services.ToString());
        Assert.Equal([.. Brokers, "lb", .. NatsServers, "simulator"], services.OutputLines.Select(l => l.Trim()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task BalancerAndNatsConfigs_NameEveryBrokerAndNatsService()
    {
        using var compose = await ReadComposeAsync();
        var services = compose.RootElement.GetProperty("services");
        var haproxy = await File.ReadAllTextAsync(Path.Combine(RepositoryPaths.Root, "deploy", "cluster", "haproxy.cfg"));
        foreach (var broker in Brokers)
        {
            Assert.Contains($"server {broker} {broker}:1883", haproxy, StringComparison.Ordinal);
            Assert.Contains($"server {broker} {broker}:8080", haproxy, StringComparison.Ordinal);
            Assert.Equal(broker, services.GetProperty(broker).GetProperty("environment").GetProperty("Iot__Cluster__NodeId").GetString());
        }

        var nats = await File.ReadAllTextAsync(Path.Combine(RepositoryPaths.Root, "deploy", "cluster", "nats.conf"));
        foreach (var server in NatsServers)
        {
            Assert.Contains($"nats-route://{server}:6222", nats, StringComparison.Ordinal);
            Assert.Equal(server, services.GetProperty(server).GetProperty("environment").GetProperty("NATS_SERVER_NAME").GetString());
            Assert.Contains($"nats://{server}:4222", services.GetProperty("broker1").GetProperty("environment").GetProperty("Iot__Cluster__Nats__Url").GetString(), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task BrokerSettings_StartTwoBrokersInClusterMode_OnARealNatsCluster()
    {
        using var compose = await ReadComposeAsync();
        var services = compose.RootElement.GetProperty("services");
        // The compose file's settings, except the NATS addresses (the fixture's servers instead of nats1..3).
        string[] Settings(int i) => services.GetProperty(Brokers[i]).GetProperty("environment").EnumerateObject()
            .Where(v => v.Name.StartsWith("Iot__", StringComparison.Ordinal) && v.Name != "Iot__Cluster__Nats__Url")
            .Select(v => $"--{v.Name.Replace("__", ":", StringComparison.Ordinal)}={v.Value.GetString()}")
            .ToArray();
        Assert.Contains("--Iot:Cluster:NodeId=broker1", Settings(0));

        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        await using var brokers = await ClusterBrokers.StartAsync(nats, 2, Settings);
        try
        {
            for (var i = 0; i < brokers.Count; i++)
            {
                using var client = new MqttClientFactory().CreateMqttClient();
                var connected = await client.ConnectAsync(new MqttClientOptionsBuilder()
                    .WithTcpServer(BrokerFixture.Host, brokers.MqttPort(i))
                    .WithClientId(TestIds.ClientId("ccomp"))
                    .WithTimeout(TimeSpan.FromSeconds(10))
                    .Build());
                Assert.Equal(MqttClientConnectResultCode.Success, connected.ResultCode);
            }
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    // The compose file as JSON, read by PyYAML (python3-yaml comes with Debian's docker-compose, which test.sh installs).
    private static async Task<JsonDocument> ReadComposeAsync()
    {
        ExternalClients.RequireTool("docker-compose", "docker-compose");
        var result = await ChildProcess.RunAsync(
            "python3",
            ["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", Path.Combine(RepositoryPaths.Root, ComposeFile)],
            TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, result.ToString());
        return JsonDocument.Parse(result.StandardOutput);
    }
}
