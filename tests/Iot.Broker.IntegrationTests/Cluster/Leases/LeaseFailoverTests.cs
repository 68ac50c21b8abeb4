using System.Diagnostics;
using Iot.Broker.Cluster.Leases;
using Iot.Messaging.Leases;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Leases;

/// <summary>
/// Singleton leases on three real nats-servers (replicas 3), between two coordinators on their own connections running a
/// singleton loop each, as two broker nodes do: <c>kill -9</c> of the NATS server that leads the lease bucket never lets
/// both run the work at once, and when the node running it dies, the other runs it within the lease time plus 5 s.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class LeaseFailoverTests(ITestOutputHelper output)
{
    private static readonly LeaseSchedule Schedule = new(TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(1));
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(5);

    // A CI run once saw two nodes run the job at once after the leader's kill: both takeovers expected one revision and
    // nats-server 2.9 accepted both (docs/cluster.md, Guarantees); LeaseRaceTests holds the fix to it deterministically.
    [Fact]
    public async Task TwoNodes_LeaderOfTheBucketKilled_NeverBothRun_HolderDies_OtherRunsWithinLeasePlusFiveSeconds()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        var bucket = "iot-leases-" + Guid.NewGuid().ToString("N")[..8];
        var running = new int[2];
        var overlaps = 0;
        var runs = new List<(int Node, long Token, TimeSpan At)>();
        var clock = Stopwatch.StartNew();
        var connections = new[] { nats.CreateConnection(), nats.CreateConnection() };
        var coordinators = new KeyValueSingletonLeases[2];
        using var stop = new CancellationTokenSource();
        var loops = new Task[2];
        try
        {
            for (var i = 0; i < 2; i++)
            {
                await connections[i].ConnectAsync();
                coordinators[i] = new KeyValueSingletonLeases(new NatsKVContext(new NatsJSContext(connections[i])), "node-" + i, nats.Replicas, Schedule,
                    TimeSpan.FromSeconds(5), TimeProvider.System, new LeaseMetrics(), NullLogger.Instance, bucket);
                var node = i;
                loops[i] = coordinators[i].RunWhileHeldAsync("job", async (lease, ct) =>
                {
                    lock (runs)
                    {
                        running[node] = 1;
                        overlaps += running[0] + running[1] > 1 ? 1 : 0;
                        runs.Add((node, lease.FencingToken, clock.Elapsed));
                    }

                    try
                    {
                        await Task.Delay(Timeout.Infinite, ct);
                    }
                    finally
                    {
                        lock (runs)
                        {
                            running[node] = 0;
                        }
                    }
                }, null, stop.Token);
            }

            await Eventually.WaitUntilAsync(() => Running() >= 0, TimeSpan.FromSeconds(30), "one node runs the job");

            // The server leading the bucket's stream dies: JetStream elects another; the work may pause or move, never run twice.
            var leader = await nats.StreamLeaderAsync("KV_" + bucket);
            await nats.KillAsync(leader);
            var killedAt = clock.Elapsed;
            await Eventually.WaitUntilAsync(
                () => clock.Elapsed - killedAt > Schedule.Duration * 2 && Running() >= 0 && LastRunAt() < clock.Elapsed - Schedule.Duration,
                TimeSpan.FromSeconds(60), "one node runs the job, steadily, after the election");
            output.WriteLine($"NATS server n{leader} killed at {killedAt}; runs: {string.Join(", ", Runs())}");

            // The node running the job dies (its connection is gone, it releases nothing): the other runs it in time.
            var holder = Running();
            var died = Stopwatch.StartNew();
            await connections[holder].DisposeAsync();
            await Eventually.WaitUntilAsync(() => Running() == 1 - holder, Schedule.Duration + Margin, $"node-{1 - holder} runs the job");
            output.WriteLine($"node-{holder} died; node-{1 - holder} runs the job after {died.ElapsedMilliseconds} ms; runs: {string.Join(", ", Runs())}");

            Assert.Equal(0, overlaps);
            var tokens = Runs().Select(r => r.Token).ToList();
            Assert.Equal(tokens.Order(), tokens); // each run of the job has a higher fencing token than the one before
            Assert.Equal(tokens.Count, tokens.Distinct().Count());
        }
        finally
        {
            await stop.CancelAsync();
            foreach (var loop in loops.Where(l => l is not null))
            {
                await Task.WhenAny(loop, Task.Delay(TimeSpan.FromSeconds(10)));
            }

            foreach (var coordinator in coordinators.Where(c => c is not null))
            {
                await coordinator.DisposeAsync();
            }

            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }

        int Running()
        {
            lock (runs)
            {
                return running[0] == 1 ? 0 : running[1] == 1 ? 1 : -1;
            }
        }

        TimeSpan LastRunAt()
        {
            lock (runs)
            {
                return runs[^1].At;
            }
        }

        List<(int Node, long Token, TimeSpan At)> Runs()
        {
            lock (runs)
            {
                return [.. runs];
            }
        }
    }
}
