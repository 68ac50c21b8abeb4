using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.Broker.IntegrationTests.Cluster.Nodes;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Leases;

/// <summary>
/// Singletons across broker child processes (issue 19, done-when 5): with two nodes, each aggregation window x partition
/// runs on exactly one of them (seen in <c>GET /api/streams/telemetry/aggregations</c>, which lists what runs on the node
/// asked, and in <c>iot_cluster_leases_held</c>); after <c>kill -9</c> of a node, the other takes its partitions over
/// within the lease duration plus 5 s.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class AggregationTakeoverTests(ITestOutputHelper output)
{
    private const int Partitions = 4; // the default stream telemetry
    private static readonly TimeSpan LeaseDuration = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(5);
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private static readonly string[] Args =
    [
        "--Iot:Cluster:LeaseDuration=00:00:03",
        "--Iot:Cluster:LeaseSafetyMargin=00:00:01",
        "--Iot:Streams:Windows:0:Name=t10",
        "--Iot:Streams:Windows:0:Kind=Tumbling",
        "--Iot:Streams:Windows:0:Size=00:00:10",
        "--Iot:Streams:Windows:0:Fields:0=temperature",
    ];

    [Fact]
    public async Task TwoBrokers_EachWindowPartitionOnOneNode_KilledOwnersPartitionsTakenOverWithinLeasePlusFiveSeconds()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 1);
        await using var brokers = await ClusterBrokers.StartAsync(nats, 2, Args);
        try
        {
            // Every partition runs somewhere, and nowhere twice.
            var running = await Eventually.WaitForAsync(() => RunningAsync(brokers), r => r[0].Count + r[1].Count == Partitions,
                TimeSpan.FromSeconds(30), "every partition of t10 runs on a node");
            Assert.Empty(running[0].Intersect(running[1]));
            Assert.Equal(Partitions, running[0].Union(running[1]).Count());

            // It stays so while the leases are renewed (several renewals: a third of the duration each).
            var steady = Stopwatch.StartNew();
            while (steady.Elapsed < LeaseDuration * 2)
            {
                var now = await RunningAsync(brokers);
                Assert.Equal(running[0], now[0]);
                Assert.Equal(running[1], now[1]);
                await Task.Delay(250);
            }

            Assert.Equal(Partitions, (await LeasesHeldAsync(brokers, 0)) + (await LeasesHeldAsync(brokers, 1)));

            var victim = running[0].Count > 0 ? 0 : 1;
            var survivor = 1 - victim;
            output.WriteLine($"node-0 runs [{string.Join(",", running[0])}], node-1 runs [{string.Join(",", running[1])}]; killing node-{victim}");
            await brokers.KillAsync(victim);
            var sinceKill = Stopwatch.StartNew();

            await Eventually.WaitUntilAsync(async () => (await RunningOnAsync(brokers, survivor)).Count == Partitions,
                LeaseDuration + Margin, $"node-{survivor} takes over every partition");
            output.WriteLine($"node-{survivor} runs every partition {sinceKill.ElapsedMilliseconds} ms after kill -9");

            // It took them over from the dead node (event 1991), once each.
            foreach (var partition in running[victim])
            {
                Assert.Single(System.Text.RegularExpressions.Regex.Matches(brokers.Output(survivor),
                    $@"Cluster lease streams\.telemetry\.aggregate\.t10\.{partition} taken over from node {ClusterBrokers.NodeId(victim)}"));
            }

            Assert.Equal(running[victim].Count, await ClusterApi.MetricAsync(brokers.HttpBaseAddress(survivor), "iot_cluster_lease_takeovers_total"));
            Assert.Equal(Partitions, await LeasesHeldAsync(brokers, survivor));
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    private static async Task<List<int>[]> RunningAsync(ClusterBrokers brokers) =>
        [await RunningOnAsync(brokers, 0), await RunningOnAsync(brokers, 1)];

    /// <summary>The partitions of window t10 running on node <paramref name="i"/> (none when it does not answer).</summary>
    private static async Task<List<int>> RunningOnAsync(ClusterBrokers brokers, int i)
    {
        if (!brokers.IsRunning(i))
        {
            return [];
        }

        using var json = await Http.GetFromJsonAsync<JsonDocument>(new Uri(brokers.HttpBaseAddress(i), "api/streams/telemetry/aggregations"));
        return [.. json!.RootElement.EnumerateArray()
            .Where(s => s.GetProperty("window").GetString() == "t10")
            .Select(s => s.GetProperty("partition").GetInt32())
            .Order()];
    }

    private static async Task<long> LeasesHeldAsync(ClusterBrokers brokers, int i) =>
        await ClusterApi.MetricAsync(brokers.HttpBaseAddress(i), "iot_cluster_leases_held") ?? -1;
}
