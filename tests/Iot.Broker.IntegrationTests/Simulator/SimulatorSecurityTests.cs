using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.Simulator;

/// <summary>The simulator against a broker with security on: it registers its devices through the API.</summary>
[Collection(SimulatorBroker.Name)]
[Trait("Category", "Integration")]
public sealed class SimulatorSecurityTests
{
    private const string ServiceKey = "sim-service-key-0123456789abcdef";

    [Fact]
    public async Task SecurityOn_ApiKey_DevicesRegisteredOrRotatedThenConnectAndAnswer()
    {
        await using var broker = await BrokerFixture.StartAsync(
            "--Iot:Security:AllowAnonymous=false",
            "--Iot:Security:PasswordIterations=1000",
            "--Iot:Security:Identities:0:Id=sim-svc",
            "--Iot:Security:Identities:0:Role=Service",
            $"--Iot:Security:Identities:0:ApiKey={ServiceKey}");
        using var api = new SimulatorApi(broker.HttpBaseUri, ServiceKey);
        var prefix = SimulatorBroker.UniquePrefix("sec");

        // One of the devices exists already (its password unknown to the simulator): it gets fresh credentials.
        using (var http = new HttpClient { BaseAddress = broker.HttpBaseUri })
        {
            http.DefaultRequestHeaders.Add("X-Api-Key", ServiceKey);
            using var created = await http.PostAsJsonAsync(new Uri("api/devices", UriKind.Relative), new { id = prefix + "0002", role = "device" });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        await using var simulator = SimulatorProcess.Start(
            "--broker", broker.MqttUri.ToString(), "--devices", "3", "--prefix", prefix, "--interval", "500ms",
            "--api-url", broker.HttpBaseUri.ToString(), "--api-key", ServiceKey, "--json-summary");

        await simulator.WaitForAllConnectedAsync(3, TimeSpan.FromSeconds(20));
        var devices = await api.GetAsync("api/devices");
        var ids = devices.EnumerateArray().Select(d => d.GetProperty("id").GetString()).ToHashSet();
        Assert.Superset(new HashSet<string?> { prefix + "0001", prefix + "0002", prefix + "0003" }, ids);

        var (status, ping) = await api.CommandAsync(prefix + "0002", "ping", "{}");
        Assert.Equal(200, status);
        Assert.True(ping.GetProperty("answer").GetProperty("pong").GetBoolean());

        Assert.Equal(0, await simulator.InterruptAsync());
        var summary = simulator.Summary();
        Assert.Equal(3, summary.GetProperty("registered").GetInt64());
        Assert.Equal(3, summary.GetProperty("everConnected").GetInt32());
        Assert.Equal(0, summary.GetProperty("errors").GetInt64());
    }

    [Fact]
    public async Task SecurityOn_WrongApiKey_ExitsNonZeroWithTheApiError()
    {
        await using var broker = await BrokerFixture.StartAsync("--Iot:Security:AllowAnonymous=false");
        await using var simulator = SimulatorProcess.Start(
            "--broker", broker.MqttUri.ToString(), "--devices", "2", "--prefix", SimulatorBroker.UniquePrefix("bad"),
            "--api-url", broker.HttpBaseUri.ToString(), "--api-key", "not-a-key");

        Assert.Equal(1, await simulator.WaitForExitAsync());
        Assert.Contains("401", simulator.Output, StringComparison.Ordinal);
    }
}
