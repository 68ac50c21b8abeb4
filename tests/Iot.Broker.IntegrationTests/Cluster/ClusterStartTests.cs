using System.Globalization;
using Iot.Broker.IntegrationTests.Robustness;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster;

/// <summary>
/// Cluster mode starts (issue 18): real nats-server processes with JetStream and broker child processes on loopback.
/// A broker without NATS does not start; the NATS cluster stays usable when one server is killed.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterStartTests(ITestOutputHelper output)
{
    [Fact]
    public async Task ThreeNatsServersAndTwoBrokers_EachNodeAcceptsMqttAndHttp()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        await using var brokers = await ClusterBrokers.StartAsync(nats, 2);
        try
        {
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            for (var i = 0; i < brokers.Count; i++)
            {
                using var client = new MqttClientFactory().CreateMqttClient();
                var connected = await client.ConnectAsync(new MqttClientOptionsBuilder()
                    .WithTcpServer(BrokerFixture.Host, brokers.MqttPort(i))
                    .WithClientId(TestIds.ClientId("cstart"))
                    .WithProtocolVersion(MqttProtocolVersion.V500)
                    .WithTimeout(TimeSpan.FromSeconds(10))
                    .Build());
                Assert.Equal(MqttClientConnectResultCode.Success, connected.ResultCode);
                await client.DisconnectAsync();
                Assert.Equal("ok\n", await http.GetStringAsync(new Uri(brokers.HttpBaseAddress(i), "healthz")));
            }

        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task UnreachableNatsUrl_ExitsWithOneLineNamingTheSetting()
    {
        using var dataDir = new TempDirectory("iot-cluster-no-nats");
        // A port nothing listens on: picked free, then released.
        var port = FreePorts.One();
        var url = string.Create(CultureInfo.InvariantCulture, $"nats://127.0.0.1:{port}");
        var dll = RepositoryPaths.BrokerDll;
        string[] args =
        [
            dll, "--Iot:Mqtt:Port=0", "--Iot:Http:Port=0", $"--Iot:DataDir={dataDir.Path}", "--Iot:Security:AllowAnonymous=true",
            $"--Iot:Cluster:Nats:Url={url}", "--Iot:Cluster:NodeId=node-x",
        ];
        var environment = new Dictionary<string, string?>
        {
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["DOTNET_ENVIRONMENT"] = null,
            ["ASPNETCORE_URLS"] = null,
            ["Logging__Console__FormatterOptions__ColorBehavior"] = "Disabled",
        };
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";

        var result = await ChildProcess.RunAsync(dotnet, args, TimeSpan.FromSeconds(60), Path.GetDirectoryName(dll), environment);
        output.WriteLine(result.ToString());

        var line = StartupFailureTests.AssertOneFailureLine(result);
        Assert.Contains("Iot:Cluster:Nats:Url", line, StringComparison.Ordinal);
        Assert.Contains(url, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StreamLeaderKilled_R3StreamAcceptsPublishesFromANewLeader_AndKeepsWhatWasAcknowledged()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        try
        {
            var stream = "IOT_TEST_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
            var subject = $"iot-test.{stream}";
            await using var connection = nats.CreateConnection();
            var js = new NatsJSContext(connection);
            await js.CreateStreamAsync(new StreamConfig(stream, [subject]) { NumReplicas = 3 });
            for (var i = 0; i < 10; i++)
            {
                (await js.PublishAsync(subject, i)).EnsureSuccess();
            }

            var leader = await nats.StreamLeaderAsync(stream);
            await nats.KillAsync(leader);
            Assert.False(nats.IsRunning(leader));

            // A publish succeeds once a new leader is elected (seconds); the client's connection moves to a live server.
            await PublishEventuallyAsync(js, subject);

            var newLeader = await nats.StreamLeaderAsync(stream);
            Assert.NotEqual(leader, newLeader);
            var info = await js.GetStreamAsync(stream);
            Assert.True(info.Info.State.Messages >= 11, $"the stream holds {info.Info.State.Messages} messages, 11 were acknowledged");

            // The killed server comes back on its ports and store and the stream is replicated on it again.
            await nats.RestartAsync(leader);
            Assert.True(nats.IsRunning(leader));
            var restarted = nats.ServerName(leader);
            await Eventually.WaitUntilAsync(async () =>
            {
                var after = await js.GetStreamAsync(stream);
                return after.Info.Cluster?.Replicas?.Any(r => r.Name == restarted && r.Current) == true;
            }, TimeSpan.FromSeconds(30), $"{restarted} is a current replica of {stream} again");
        }
        catch
        {
            output.WriteLine(nats.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task MetaLeaderKilled_AnotherServerLeads_AndAnR3StreamAcceptsPublishes()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        try
        {
            var stream = "IOT_TEST_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
            await using var connection = nats.CreateConnection();
            var js = new NatsJSContext(connection);
            await js.CreateStreamAsync(new StreamConfig(stream, [$"iot-test.{stream}"]) { NumReplicas = 3 });

            var leader = await nats.MetaLeaderAsync();
            await nats.KillAsync(leader);
            var next = await nats.MetaLeaderAsync();
            Assert.NotEqual(leader, next);
            await nats.WaitForJetStreamAsync(TimeSpan.FromSeconds(30));
            await PublishEventuallyAsync(js, $"iot-test.{stream}");
        }
        catch
        {
            output.WriteLine(nats.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task SingleServer_JetStreamUsable_StreamLedByIt()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 1);
        Assert.Equal(1, nats.Replicas);
        Assert.Equal(nats.Url(0), nats.Urls);
        var stream = "IOT_TEST_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        await using var connection = nats.CreateConnection();
        var js = new NatsJSContext(connection);
        await js.CreateStreamAsync(new StreamConfig(stream, [$"iot-test.{stream}"]));
        (await js.PublishAsync($"iot-test.{stream}", 1)).EnsureSuccess();
        Assert.Equal(0, await nats.StreamLeaderAsync(stream));
    }

    /// <summary>Publishes until JetStream acknowledges (a new leader is elected within seconds after a kill).</summary>
    private static Task PublishEventuallyAsync(NatsJSContext js, string subject) =>
        Eventually.WaitUntilAsync(async () =>
        {
            try
            {
                (await js.PublishAsync(subject, 10)).EnsureSuccess();
                return true;
            }
            catch (Exception ex) when (ex is NATS.Client.Core.NatsException or TimeoutException or OperationCanceledException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(30), $"a publish to {subject} succeeds after a NATS server was killed");
}
