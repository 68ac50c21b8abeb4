using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.Broker.IntegrationTests.Cluster.Nodes;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Leases;

/// <summary>
/// Singletons across broker child processes (issue 19, done-when 5): with two nodes, each aggregation window x partition
/// runs on exactly one of them (seen in <c>GET /api/streams/telemetry/aggregations</c>, which lists what runs on the node
/// asked, in <c>iot_cluster_leases_held</c>, and in every write of its lease in <c>iot-leases</c> over four renewals); after <c>kill -9</c> of a node, the other takes its partitions over
/// within the lease duration plus 5 s.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class AggregationTakeoverTests(ITestOutputHelper output)
{
    private const int Partitions = 4; // the default stream telemetry

    /// <summary>The other singletons every cluster runs: the queue sweep (lease queues.sweep) and the crossover checks (crossover.queues, crossover.streams).</summary>
    private const int OtherLeases = 3;
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

            // It stays so while the leases are renewed: every write of every partition's lease, watched in the bucket
            // until each was renewed four times (more than the duration), comes from the node that runs the partition.
            var writers = await LeaseWritersAsync(nats, renewals: 4);
            foreach (var (partition, holders) in writers)
            {
                Assert.Equal([ClusterBrokers.NodeId(running[0].Contains(partition) ? 0 : 1)], holders.Distinct());
            }

            Assert.Equal(running, await RunningAsync(brokers));
            Assert.Equal(0, await ClusterApi.MetricAsync(brokers.HttpBaseAddress(0), "iot_cluster_lease_takeovers_total"));
            Assert.Equal(0, await ClusterApi.MetricAsync(brokers.HttpBaseAddress(1), "iot_cluster_lease_takeovers_total"));
            Assert.Equal(Partitions + OtherLeases, (await LeasesHeldAsync(brokers, 0)) + (await LeasesHeldAsync(brokers, 1)));

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

            await Eventually.WaitUntilAsync(async () => await LeasesHeldAsync(brokers, survivor) == Partitions + OtherLeases, LeaseDuration + Margin,
                $"node-{survivor} holds every lease");

            // Each partition the victim ran was taken over once; the queue sweep too if the victim held it.
            Assert.InRange(await ClusterApi.MetricAsync(brokers.HttpBaseAddress(survivor), "iot_cluster_lease_takeovers_total") ?? -1,
                running[victim].Count, running[victim].Count + OtherLeases);
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    /// <summary>
    /// Watches the bucket <c>iot-leases</c> until the lease of every partition of t10 was written <paramref name="renewals"/>
    /// times after the first write seen; returns, per partition, the holder named by each write.
    /// </summary>
    private static async Task<Dictionary<int, List<string>>> LeaseWritersAsync(NatsClusterFixture nats, int renewals)
    {
        await using var connection = nats.CreateConnection();
        var store = await new NatsKVContext(new NatsJSContext(connection)).GetStoreAsync("iot-leases");
        var writers = Enumerable.Range(0, Partitions).ToDictionary(p => p, _ => new List<string>());
        using var deadline = new CancellationTokenSource(LeaseDuration * (renewals + 2));
        try
        {
            await foreach (var entry in store.WatchAsync<byte[]>("streams.telemetry.aggregate.t10.*", cancellationToken: deadline.Token))
            {
                if (entry.Operation == NatsKVOperation.Put && entry.Value is { } value
                    && int.TryParse(entry.Key.AsSpan(entry.Key.LastIndexOf('.') + 1), System.Globalization.CultureInfo.InvariantCulture, out var partition))
                {
                    using var record = JsonDocument.Parse(value);
                    writers[partition].Add(record.RootElement.GetProperty("holder").GetString()!);
                    if (writers.Values.All(w => w.Count > renewals))
                    {
                        return writers;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
        }

        throw new TimeoutException($"not every lease of t10 was renewed {renewals} times: " +
            string.Join(", ", writers.Select(w => $"{w.Key}: {w.Value.Count}")));
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
