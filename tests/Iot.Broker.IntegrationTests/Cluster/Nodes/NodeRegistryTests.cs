using System.Diagnostics;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Nodes;

/// <summary>
/// The node registry with real nats-server processes and broker child processes (issue 18): brokers list each other in
/// <c>/api/cluster</c>; a broker killed with <c>kill -9</c> is reported dead within <c>NodeTimeout</c> plus a margin and
/// exactly one survivor claims it; restarted, it is alive again and its old incarnation is not claimed twice.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class NodeRegistryTests(ITestOutputHelper output)
{
    private static readonly TimeSpan NodeTimeout = TimeSpan.FromSeconds(3);

    // A loaded two-core machine: a heartbeat may be late, the poll sees the change late, the API answers late.
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(5);

    private static readonly string[] FastHeartbeats = ["--Iot:Cluster:HeartbeatInterval=00:00:00.500", "--Iot:Cluster:NodeTimeout=00:00:03"];

    [Fact]
    public async Task ThreeBrokers_ListEachOther_KilledOneDiesOnceClaimed_RestartedAlive()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        await using var brokers = await ClusterBrokers.StartAsync(nats, 3, FastHeartbeats);
        try
        {
            // Every broker lists all three, alive.
            for (var i = 0; i < 3; i++)
            {
                var broker = brokers.HttpBaseAddress(i);
                await Eventually.WaitUntilAsync(
                    async () => await ClusterApi.NodesAsync(broker) is { Count: 3 } nodes && nodes.Values.All(n => n.Alive),
                    TimeSpan.FromSeconds(30), $"{ClusterBrokers.NodeId(i)} lists three live nodes");
            }

            using (var cluster = await ClusterApi.ClusterAsync(brokers.HttpBaseAddress(0)))
            {
                var root = cluster.RootElement;
                Assert.Equal("cluster", root.GetProperty("mode").GetString());
                Assert.Equal("node-0", root.GetProperty("nodeId").GetString());
                Assert.True(root.GetProperty("nats").GetProperty("connected").GetBoolean());
                var self = root.GetProperty("nodes").EnumerateArray().Single(n => n.GetProperty("self").GetBoolean());
                Assert.Equal("node-0", self.GetProperty("nodeId").GetString());
                Assert.Equal(brokers.MqttPort(0), self.GetProperty("mqttPort").GetInt32());
            }

            Assert.Equal(3, await ClusterApi.MetricAsync(brokers.HttpBaseAddress(0), "iot_cluster_nodes{state=\"alive\"}"));
            var killed = (await ClusterApi.NodesAsync(brokers.HttpBaseAddress(0)))!["node-2"].Incarnation;

            await brokers.KillAsync(2);
            var sinceKill = Stopwatch.StartNew();
            var survivors = new[] { brokers.HttpBaseAddress(0), brokers.HttpBaseAddress(1) };
            foreach (var survivor in survivors)
            {
                await Eventually.WaitUntilAsync(
                    async () => await ClusterApi.NodesAsync(survivor) is { } nodes && !nodes["node-2"].Alive,
                    NodeTimeout + Margin, "a survivor reports node-2 dead");
            }

            output.WriteLine($"both survivors reported node-2 dead {sinceKill.ElapsedMilliseconds} ms after kill -9");

            // Exactly one survivor claims it: the claim counters sum to one, and one claim line names the incarnation.
            await Eventually.WaitUntilAsync(
                async () => await ClaimsAsync(survivors) >= 1, TimeSpan.FromSeconds(10), "a survivor claims node-2");
            Assert.Equal(1, await ClaimsAsync(survivors));
            Assert.Equal(1, ClusterApi.Claims(brokers.Output(0), "node-2", killed) + ClusterApi.Claims(brokers.Output(1), "node-2", killed));
            Assert.Equal(1, await ClusterApi.MetricAsync(survivors[0], "iot_cluster_nodes{state=\"dead\"}"));

            // Restarted: alive again everywhere, as a new incarnation, and the old one is not claimed again.
            await brokers.RestartAsync(2);
            foreach (var broker in survivors.Append(brokers.HttpBaseAddress(2)))
            {
                await Eventually.WaitUntilAsync(
                    async () => await ClusterApi.NodesAsync(broker) is { } nodes && nodes["node-2"] is { Alive: true } node && node.Incarnation != killed,
                    TimeSpan.FromSeconds(30), "node-2 alive again with a new incarnation");
            }

            Assert.Equal(1, await ClaimsAsync(survivors) + (await ClusterApi.MetricAsync(brokers.HttpBaseAddress(2), "iot_cluster_node_claims_total") ?? 0));
            Assert.Equal(0, await ClusterApi.MetricAsync(survivors[1], "iot_cluster_nodes{state=\"dead\"}"));
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    [Fact]
    public async Task BrokerRestartedWithinTimeout_OldIncarnationClaimedOnceAtOnce()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        await using var brokers = await ClusterBrokers.StartAsync(nats, 2, _ => ["--Iot:Cluster:HeartbeatInterval=00:00:01", "--Iot:Cluster:NodeTimeout=00:01:00"]);
        try
        {
            var first = brokers.HttpBaseAddress(0);
            await Eventually.WaitUntilAsync(
                async () => await ClusterApi.NodesAsync(first) is { Count: 2 } nodes && nodes.Values.All(n => n.Alive),
                TimeSpan.FromSeconds(30), "node-0 lists two live nodes");
            var killed = (await ClusterApi.NodesAsync(first))!["node-1"].Incarnation;

            // Back long before the one-minute timeout: the new incarnation ends the old one at once.
            await brokers.KillAsync(1);
            await brokers.RestartAsync(1);

            await Eventually.WaitUntilAsync(
                () => ClusterApi.Claims(brokers.Output(0), "node-1", killed) + ClusterApi.Claims(brokers.Output(1), "node-1", killed) >= 1,
                TimeSpan.FromSeconds(30), "the old incarnation of node-1 is claimed without waiting for the timeout");
            Assert.Equal(1, ClusterApi.Claims(brokers.Output(0), "node-1", killed) + ClusterApi.Claims(brokers.Output(1), "node-1", killed));
            var nodes = await ClusterApi.NodesAsync(first);
            Assert.True(nodes!["node-1"].Alive);
            Assert.NotEqual(killed, nodes["node-1"].Incarnation);
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    private static async Task<long> ClaimsAsync(IEnumerable<Uri> brokers)
    {
        long claims = 0;
        foreach (var broker in brokers)
        {
            claims += await ClusterApi.MetricAsync(broker, "iot_cluster_node_claims_total") ?? 0;
        }

        return claims;
    }
}
