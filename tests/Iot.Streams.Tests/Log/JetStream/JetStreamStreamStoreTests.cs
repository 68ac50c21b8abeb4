using System.Text;
using Iot.Streams.Log;
using Iot.TestUtilities;

namespace Iot.Streams.Tests.Log.JetStream;

/// <summary>What only a shared store does: two nodes (two connections, two stores) over one real nats-server.</summary>
[Trait("Category", "Integration")]
public sealed class JetStreamStreamStoreTests(SingleNatsServer server) : IClassFixture<SingleNatsServer>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task TryCreateAsync_OnOneNode_ExistsOnTheOtherAndASecondCreateReturnsIt()
    {
        var scope = JetStreamTestNode.Scope(replicas: 1);
        await using var a = await JetStreamTestNode.StartAsync(server.Nats, scope);
        await using var b = await JetStreamTestNode.StartAsync(server.Nats, scope);

        var created = await a.Store.TryCreateAsync(new StreamDefinition { Name = "orders:eu.1", Partitions = 3 });
        Assert.True(created.Created);
        await Eventually.WaitUntilAsync(() => b.Store.Find("orders:eu.1") is not null, Deadline, "the stream opened on B");

        var again = await b.Store.TryCreateAsync(new StreamDefinition { Name = "orders:eu.1", Partitions = 2 });
        Assert.False(again.Created);
        Assert.Equal(3, again.Definition.Partitions);
        Assert.Equal(3, b.Store.Find("orders:eu.1")!.Partitions);
        Assert.Equal(0, b.Store.GetPartition("orders:eu.1", 2).NextOffset);
    }

    [Fact]
    public async Task StartAsync_ConfiguredStreamExists_KeepsTheStoredDefinition()
    {
        var scope = JetStreamTestNode.Scope(replicas: 1);
        await using var a = await JetStreamTestNode.StartAsync(server.Nats, scope, [new StreamDefinition { Name = "telemetry", Partitions = 4 }]);
        await using var b = await JetStreamTestNode.StartAsync(server.Nats, scope, [new StreamDefinition { Name = "telemetry", Partitions = 8 }]);

        Assert.Equal(4, b.Store.Find("telemetry")!.Partitions);
        Assert.Equal(["telemetry"], b.Store.Streams.Select(s => s.Name));
    }

    [Fact]
    public async Task WaitForRecordsAsync_AppendOnAnotherNode_WakesAndTheRecordIsReadable()
    {
        var scope = JetStreamTestNode.Scope(replicas: 1);
        await using var a = await JetStreamTestNode.StartAsync(server.Nats, scope, [new StreamDefinition { Name = "s", Partitions = 2 }]);
        await using var b = await JetStreamTestNode.StartAsync(server.Nats, scope);
        var onB = b.Store.GetPartition("s", 1);
        var wait = onB.WaitForRecordsAsync(0).AsTask();
        Assert.False(wait.IsCompleted);

        var offset = await a.Store.GetPartition("s", 1).AppendAsync(new AppendRecord(DateTimeOffset.UnixEpoch, "dev", "devices/dev/telemetry", "{\"t\":1}"u8.ToArray()));

        await wait.WaitAsync(Deadline);
        Assert.Equal(0, offset);
        Assert.Equal(1, onB.NextOffset);
        var record = Assert.Single(await onB.ReadAsync(0, 10));
        Assert.Equal("{\"t\":1}", Encoding.UTF8.GetString(record.Payload.Span));
        Assert.Equal(0, b.Store.GetPartition("s", 0).NextOffset);
    }

    [Fact]
    public async Task CommitAsync_OnOneNode_IsTheCursorOfTheOtherAndFencesItsStaleRevision()
    {
        var scope = JetStreamTestNode.Scope(replicas: 1);
        await using var a = await JetStreamTestNode.StartAsync(server.Nats, scope, [new StreamDefinition { Name = "s", Partitions = 2 }]);
        await using var b = await JetStreamTestNode.StartAsync(server.Nats, scope, [new StreamDefinition { Name = "s", Partitions = 2 }]);
        var onA = a.Store.GetGroups("s");
        var onB = b.Store.GetGroups("s");

        var first = await onA.TryCommitAsync("aggregate.t1m", 1, new CommittedOffset(10, "wm-1"), 0);
        await Eventually.WaitUntilAsync(() => onB.GetCommitted("aggregate.t1m", 1)?.Offset == 10, Deadline, "A's commit seen on B");
        Assert.Contains("aggregate.t1m", onB.Groups);

        // B takes over: it reads the current revision and commits on it; A, paused meanwhile, is fenced.
        var current = await onB.ReadCommittedAsync("aggregate.t1m", 1);
        Assert.Equal(first, current!.Value.Revision);
        var taken = await onB.TryCommitAsync("aggregate.t1m", 1, new CommittedOffset(12, "wm-2"), current.Value.Revision);
        Assert.NotNull(taken);
        Assert.Null(await onA.TryCommitAsync("aggregate.t1m", 1, new CommittedOffset(11, "stale"), first!.Value));
        await Eventually.WaitUntilAsync(() => onA.GetCommitted("aggregate.t1m", 1)?.Offset == 12, Deadline, "B's commit seen on A");
        Assert.Equal("wm-2", onA.GetCommitted("aggregate.t1m", 1)!.Value.Metadata);
    }

    [Fact]
    public async Task Retention_BySize_TheStreamDropsTheOldestAndStartOffsetFollows()
    {
        var scope = JetStreamTestNode.Scope(replicas: 1);
        await using var a = await JetStreamTestNode.StartAsync(server.Nats, scope);
        await a.Store.TryCreateAsync(new StreamDefinition { Name = "small", Partitions = 1, RetentionBytes = 8192, RetentionAge = TimeSpan.FromMinutes(5) });
        var log = a.Store.GetPartition("small", 0);
        var payload = new byte[500];
        for (var i = 0; i < 60; i++)
        {
            await log.AppendAsync(new AppendRecord(DateTimeOffset.UnixEpoch.AddSeconds(i), "k", null, payload));
        }

        var removed = await log.ApplyRetentionAsync();

        Assert.True(removed > 0, "nothing removed");
        Assert.Equal(removed, log.StartOffset);
        Assert.Equal(60, log.NextOffset);
        var records = await log.ReadAsync(0, 100);
        Assert.Equal(log.StartOffset, records[0].Offset);
        Assert.Equal(Enumerable.Range((int)log.StartOffset, 60 - (int)log.StartOffset).Select(i => (long)i), records.Select(r => r.Offset));
        Assert.Equal(log.StartOffset, await log.FindOffsetAsync(DateTimeOffset.UnixEpoch));
        var info = await new NATS.Client.JetStream.NatsJSContext(a.Connection).GetStreamAsync(scope.StreamPrefix + "small-P0");
        Assert.Equal(TimeSpan.FromMinutes(5), info.Info.Config.MaxAge);
        Assert.Equal(8192, info.Info.Config.MaxBytes);
    }
}
