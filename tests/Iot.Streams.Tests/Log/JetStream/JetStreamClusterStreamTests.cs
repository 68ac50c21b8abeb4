using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Iot.Streams.Log;
using Iot.Streams.Log.JetStream;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;

namespace Iot.Streams.Tests.Log.JetStream;

/// <summary>Three real nats-servers: a partition (R3) survives <c>kill -9</c> of its leader with every acknowledged append.</summary>
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class JetStreamClusterStreamTests(NatsClusterFixture nats) : IClassFixture<NatsClusterFixture>
{
    [Fact]
    public async Task AppendsFromTwoNodes_LeaderKilledMidway_EveryAcknowledgedAppendReadableOnTheOtherNodeWithDenseOffsets()
    {
        var scope = JetStreamTestNode.Scope(replicas: nats.Replicas, requestTimeout: TimeSpan.FromSeconds(3));
        await using var a = await JetStreamTestNode.StartAsync(nats, scope, [new StreamDefinition { Name = "telemetry", Partitions = 2 }]);
        await using var b = await JetStreamTestNode.StartAsync(nats, scope, [new StreamDefinition { Name = "telemetry", Partitions = 2 }]);
        var acked = new ConcurrentDictionary<long, string>();
        var failures = 0;
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(45));
        var afterKill = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var killed = 0;

        async Task AppendLoopAsync(JetStreamTestNode node, string name)
        {
            var log = node.Store.GetPartition("telemetry", 0);
            for (var i = 0; !stop.IsCancellationRequested && !afterKill.Task.IsCompleted; i++)
            {
                var id = string.Create(CultureInfo.InvariantCulture, $"{name}-{i}");
                try
                {
                    var offset = await log.AppendAsync(new AppendRecord(DateTimeOffset.UtcNow, name, null, Encoding.UTF8.GetBytes(id)));
                    Assert.True(acked.TryAdd(offset, id), $"offset {offset} acknowledged twice");
                    if (Volatile.Read(ref killed) == 1 && acked.Count > 1200)
                    {
                        afterKill.TrySetResult();
                    }
                }
                catch (Exception ex) when (ex is TimeoutException or NATS.Client.JetStream.NatsJSException or NATS.Client.Core.NatsException)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        }

        var loops = new[] { AppendLoopAsync(a, "a0"), AppendLoopAsync(a, "a1"), AppendLoopAsync(b, "b0"), AppendLoopAsync(b, "b1") };
        await Eventually.WaitUntilAsync(() => acked.Count >= 400, TimeSpan.FromSeconds(20), "400 appends before the kill");
        var stream = JetStreamNames.PartitionStream(scope.StreamPrefix, "telemetry", 0);
        var leader = await nats.StreamLeaderAsync(stream);
        await nats.KillAsync(leader);
        Volatile.Write(ref killed, 1);
        await afterKill.Task.WaitAsync(TimeSpan.FromSeconds(40));
        await Task.WhenAll(loops);

        // Read everything back on B: offsets 0..n-1 without a gap, each acknowledged one with its own payload.
        var onB = b.Store.GetPartition("telemetry", 0);
        await Eventually.WaitUntilAsync(() => onB.NextOffset > acked.Keys.Max(), TimeSpan.FromSeconds(20), "B knows the end");
        var records = new List<StreamRecord>();
        while (records.Count < onB.NextOffset)
        {
            records.AddRange(await onB.ReadAsync(records.Count, 1000));
        }

        Assert.Equal(Enumerable.Range(0, records.Count).Select(i => (long)i), records.Select(r => r.Offset));
        foreach (var (offset, id) in acked)
        {
            Assert.Equal(id, Encoding.UTF8.GetString(records[(int)offset].Payload.Span));
        }

        // One cursor cluster-wide: a commit made on A is B's committed offset.
        await a.Store.GetGroups("telemetry").CommitAsync("influx", 0, new CommittedOffset(records.Count, null));
        Assert.Equal(records.Count, (await b.Store.GetGroups("telemetry").ReadCommittedAsync("influx", 0))!.Value.Offset.Offset);
        await Eventually.WaitUntilAsync(() => b.Store.GetGroups("telemetry").GetCommitted("influx", 0)?.Offset == records.Count,
            TimeSpan.FromSeconds(20), "A's commit seen on B");
        Assert.True(acked.Count > 1200, $"acknowledged {acked.Count}, failed {failures}");
    }
}
