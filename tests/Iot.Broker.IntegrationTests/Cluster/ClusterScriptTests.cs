using System.Globalization;
using System.Text.RegularExpressions;
using Iot.TestUtilities;
using MQTTnet;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster;

/// <summary>
/// scripts/cluster.sh, as the README tells a user to run it: real nats-server and broker processes, started in the
/// background, reachable on the ports it prints, and all gone after <c>stop</c>.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed partial class ClusterScriptTests(ITestOutputHelper output)
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Start_PrintsEachNodesPorts_WhichAcceptMqtt_AndStopEndsEveryProcess()
    {
        using var dir = new TempDirectory("iot-cluster-script");
        var environment = new Dictionary<string, string?>
        {
            ["IOT_CLUSTER_DIR"] = dir.Path,
            ["IOT_CLUSTER_NODES"] = "2",
            // The tests run on the build they were built with; the script would build it again.
            ["IOT_CLUSTER_BUILD"] = "0",
            ["IOT_CLUSTER_CONFIGURATION"] = RepositoryPaths.Configuration,
        };
        try
        {
            var started = await RunAsync("start", environment);
            Assert.True(started.ExitCode == 0, started.ToString());
            Assert.Equal(3, started.OutputLines.Count(l => NatsLine().IsMatch(l)));
            var mqttPorts = started.OutputLines.Select(l => NodeLine().Match(l)).Where(m => m.Success)
                .Select(m => int.Parse(m.Groups["mqtt"].Value, CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(2, mqttPorts.Length);
            foreach (var port in mqttPorts)
            {
                using var client = new MqttClientFactory().CreateMqttClient();
                var connected = await client.ConnectAsync(new MqttClientOptionsBuilder()
                    .WithTcpServer(BrokerFixture.Host, port)
                    .WithClientId(TestIds.ClientId("cscrip"))
                    .WithTimeout(TimeSpan.FromSeconds(10))
                    .Build());
                Assert.Equal(MqttClientConnectResultCode.Success, connected.ResultCode);
            }

            var pids = Directory.GetFiles(dir.Combine("pids"), "*.pid")
                .Select(f => int.Parse(File.ReadAllText(f).Trim(), CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(5, pids.Length);
            Assert.All(pids, pid => Assert.True(Directory.Exists($"/proc/{pid}"), $"pid {pid} from a pid file does not run"));

            var stopped = await RunAsync("stop", environment);
            Assert.True(stopped.ExitCode == 0, stopped.ToString());
            Assert.All(pids, pid => Assert.False(Directory.Exists($"/proc/{pid}"), $"pid {pid} still runs after stop"));
            var status = await RunAsync("status", environment);
            Assert.Contains("nothing runs", status.StandardOutput, StringComparison.Ordinal);
        }
        catch
        {
            foreach (var log in Directory.Exists(dir.Combine("logs")) ? Directory.GetFiles(dir.Combine("logs")) : [])
            {
                output.WriteLine($"--- {Path.GetFileName(log)} ---\n{await File.ReadAllTextAsync(log)}");
            }

            throw;
        }
        finally
        {
            await RunAsync("stop", environment);
        }
    }

    private async Task<ProcessResult> RunAsync(string command, IReadOnlyDictionary<string, string?> environment)
    {
        var result = await ChildProcess.RunAsync(
            "bash", [Path.Combine(RepositoryPaths.Root, "scripts", "cluster.sh"), command], StartTimeout, RepositoryPaths.Root, environment);
        output.WriteLine(result.ToString());
        return result;
    }

    [GeneratedRegex(@"^nats-\d  nats://127\.0\.0\.1:\d+  monitor http://127\.0\.0\.1:\d+/  pid \d+$")]
    private static partial Regex NatsLine();

    [GeneratedRegex(@"^node-\d  mqtt://127\.0\.0\.1:(?<mqtt>\d+)  http://127\.0\.0\.1:\d+/  pid \d+$")]
    private static partial Regex NodeLine();
}
