using System.Text.Json;
using Iot.Broker.IntegrationTests.Simulator;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.Deployment;

/// <summary>
/// What docker-compose.yml tells the containers, given to the real binaries (no Docker engine here): the broker starts
/// with the compose file's environment (its settings must validate) and aggregates the telemetry of the simulator
/// started with the compose file's command. Only the addresses change: free ports instead of 1883/8080, and the
/// broker's host name <c>broker</c> becomes 127.0.0.1.
/// </summary>
[Trait("Category", "Integration")]
public sealed class ComposeServicesTests
{
    [Fact]
    public async Task ComposeBrokerAndSimulator_AsConfigured_ProduceTheWindowAggregates()
    {
        using var compose = await ReadComposeAsync();
        var services = compose.RootElement.GetProperty("services");
        var brokerEnvironment = services.GetProperty("broker").GetProperty("environment").EnumerateObject()
            .Where(v => v.Name.StartsWith("Iot__", StringComparison.Ordinal)
                && v.Name is not ("Iot__DataDir" or "Iot__Mqtt__Port" or "Iot__Http__Port"))
            .Select(v => $"--{v.Name.Replace("__", ":", StringComparison.Ordinal)}={v.Value.GetString()}")
            .ToArray();
        Assert.Contains("--Iot:Influx:Version=2", brokerEnvironment);
        var window = brokerEnvironment.Single(a => a.StartsWith("--Iot:Streams:Windows:0:Name=", StringComparison.Ordinal)).Split('=')[1];

        using var dataDir = new TempDirectory("iot-compose");
        await using var broker = await BrokerProcess.StartAsync(dataDir.Path, brokerEnvironment);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/") };
        Assert.Equal("ok", (await http.GetStringAsync(new Uri("healthz", UriKind.Relative))).Trim());
        var streams = await http.GetStringAsync(new Uri("api/streams", UriKind.Relative));
        Assert.Contains("\"aggregates\"", streams, StringComparison.Ordinal);

        var command = services.GetProperty("simulator").GetProperty("command").EnumerateArray()
            .Select(a => a.GetString()!.Replace("mqtt://broker:1883", $"mqtt://127.0.0.1:{broker.MqttPort}", StringComparison.Ordinal))
            .ToArray();
        Assert.Contains($"mqtt://127.0.0.1:{broker.MqttPort}", command);
        await using var simulator = SimulatorProcess.Start(command);
        var devices = int.Parse(command[Array.IndexOf(command, "--devices") + 1], System.Globalization.CultureInfo.InvariantCulture);
        await simulator.WaitForAllConnectedAsync(devices, TimeSpan.FromSeconds(60));

        // The window is 10 s of event time: its first results come within about 12 s; a minute allows for a busy machine.
        var aggregate = await ExternalClients.MosquittoSubAsync(
            ["-h", "127.0.0.1", "-p", broker.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
             "-t", $"aggregates/telemetry/{window}/#", "-C", "1", "-W", "60", "-v"],
            TimeSpan.FromSeconds(90));
        Assert.True(aggregate.ExitCode == 0, $"No {window} aggregate within 60 s:\n{aggregate}\nbroker:\n{broker.Output}\nsimulator:\n{simulator.Output}");
        Assert.Matches($@"^aggregates/telemetry/{window}/sim-\d{{4}} \{{", aggregate.OutputLines[0]);
    }

    // docker-compose.yml as JSON, read by PyYAML (python3-yaml comes with Debian's docker-compose, which test.sh installs).
    private static async Task<JsonDocument> ReadComposeAsync()
    {
        ExternalClients.RequireTool("docker-compose", "docker-compose");
        var result = await ChildProcess.RunAsync(
            "python3",
            ["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", Path.Combine(RepositoryPaths.Root, "docker-compose.yml")],
            TimeSpan.FromSeconds(30));
        Assert.True(result.ExitCode == 0, result.ToString());
        return JsonDocument.Parse(result.StandardOutput);
    }
}
