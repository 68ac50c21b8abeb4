using Iot.Broker.Cluster.Nodes;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Broker.Tests.Cluster;

public sealed class NodeTableTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private readonly FakeTimeProvider _time = new();
    private readonly List<NodeRecord> _died = [];

    [Fact]
    public void Sweep_NodeSilentForTimeoutWhileSelfBeats_DiesOnce()
    {
        var table = new NodeTable("a", "a1", Timeout, _time);
        table.Observe(Record("a", "a1"), _died);
        table.Observe(Record("b", "b1"), _died);

        for (var second = 1; second <= 5; second++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            table.Observe(Record("a", "a1"), _died);
            table.Sweep(_died);
        }

        Assert.Empty(_died);
        Assert.True(table.IsAlive("b"));

        _time.Advance(TimeSpan.FromMilliseconds(100));
        table.Observe(Record("a", "a1"), _died);
        table.Sweep(_died);
        var dead = Assert.Single(_died);
        Assert.Equal(("b", "b1"), (dead.NodeId, dead.Incarnation));
        Assert.False(table.IsAlive("b"));

        _died.Clear();
        _time.Advance(TimeSpan.FromSeconds(1));
        table.Observe(Record("a", "a1"), _died);
        table.Sweep(_died);
        Assert.Empty(_died);
    }

    [Fact]
    public void Sweep_SelfNotSeenThroughWatch_DeclaresNobodyDead()
    {
        // Cut off from NATS: this node sees neither its own heartbeats nor the others', so it judges nobody.
        var table = new NodeTable("a", "a1", Timeout, _time);
        table.Observe(Record("a", "a1"), _died);
        table.Observe(Record("b", "b1"), _died);

        _time.Advance(TimeSpan.FromMinutes(1));
        table.Sweep(_died);

        Assert.Empty(_died);
        Assert.True(table.IsAlive("b"));
    }

    [Fact]
    public void Sweep_BeforeSelfSeen_DeclaresNobodyDead()
    {
        var table = new NodeTable("a", "a1", Timeout, _time);
        table.Observe(Record("b", "b1"), _died);
        _time.Advance(TimeSpan.FromMinutes(1));
        table.Sweep(_died);
        Assert.Empty(_died);
    }

    [Fact]
    public void Observe_DeadNodeBeatsAgain_IsAliveAndReported()
    {
        var table = new NodeTable("a", "a1", Timeout, _time);
        table.Observe(Record("a", "a1"), _died);
        table.Observe(Record("b", "b1"), _died);
        _time.Advance(TimeSpan.FromSeconds(6));
        table.Observe(Record("a", "a1"), _died);
        table.Sweep(_died);
        Assert.Single(_died);

        Assert.True(table.Observe(Record("b", "b1"), _died));
        Assert.True(table.IsAlive("b"));
        Assert.False(table.Observe(Record("b", "b1"), _died));
    }

    [Fact]
    public void Observe_NewIncarnationBeforeTimeout_OldOneDiesAtOnce()
    {
        var table = new NodeTable("a", "a1", Timeout, _time);
        table.Observe(Record("a", "a1"), _died);
        table.Observe(Record("b", "b1", startedAt: 0), _died);
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.True(table.Observe(Record("b", "b2", startedAt: 1), _died));

        var dead = Assert.Single(_died);
        Assert.Equal("b1", dead.Incarnation);
        Assert.True(table.IsAlive("b"));
        Assert.Equal("b2", Assert.Single(table.Snapshot(), n => n.NodeId == "b").Incarnation);
    }

    [Fact]
    public void Observe_NewIncarnationAfterDeath_OldOneNotReportedTwice()
    {
        var table = new NodeTable("a", "a1", Timeout, _time);
        table.Observe(Record("a", "a1"), _died);
        table.Observe(Record("b", "b1", startedAt: 0), _died);
        _time.Advance(TimeSpan.FromSeconds(6));
        table.Observe(Record("a", "a1"), _died);
        table.Sweep(_died);
        Assert.Single(_died);
        _died.Clear();

        table.Observe(Record("b", "b2", startedAt: 6), _died);

        Assert.Empty(_died);
        Assert.True(table.IsAlive("b"));
    }

    [Fact]
    public void Observe_OwnPredecessor_DiesWhenThisRunBeats()
    {
        // A node restarted with its id: the record of its previous run is read at start, then its own first heartbeat replaces it.
        var table = new NodeTable("a", "a2", Timeout, _time);
        table.Observe(Record("a", "a1", startedAt: 0), _died);
        Assert.Empty(_died);

        table.Observe(Record("a", "a2", startedAt: 10), _died);

        Assert.Equal("a1", Assert.Single(_died).Incarnation);
        var self = Assert.Single(table.Snapshot());
        Assert.True(self.Self);
        Assert.True(self.Alive);
    }

    [Fact]
    public void Observe_OlderIncarnationAfterNewer_Ignored()
    {
        var table = new NodeTable("a", "a1", Timeout, _time);
        table.Observe(Record("b", "b2", startedAt: 10), _died);

        Assert.False(table.Observe(Record("b", "b1", startedAt: 0), _died));

        Assert.Empty(_died);
        Assert.Equal("b2", Assert.Single(table.Snapshot()).Incarnation);
    }

    [Fact]
    public void Snapshot_SelfAlwaysAliveAndMarked_SortedById()
    {
        var table = new NodeTable("m", "m1", Timeout, _time);
        table.Observe(Record("z", "z1"), _died);
        table.Observe(Record("m", "m1"), _died);
        table.Observe(Record("b", "b1"), _died);

        var nodes = table.Snapshot();

        Assert.Equal(["b", "m", "z"], nodes.Select(n => n.NodeId));
        Assert.True(nodes[1].Self);
        Assert.All(nodes, n => Assert.True(n.Alive));
    }

    [Fact]
    public void Remove_ForgetsOtherNodesButNotSelf()
    {
        var table = new NodeTable("a", "a1", Timeout, _time);
        table.Observe(Record("a", "a1"), _died);
        table.Observe(Record("b", "b1"), _died);

        table.Remove("b");
        table.Remove("a");

        Assert.Equal("a", Assert.Single(table.Snapshot()).NodeId);
        Assert.False(table.IsAlive("b"));
    }

    [Fact]
    public void Sweep_DeadForADay_Forgotten()
    {
        var table = new NodeTable("a", "a1", Timeout, _time);
        table.Observe(Record("a", "a1"), _died);
        table.Observe(Record("b", "b1"), _died);
        _time.Advance(TimeSpan.FromSeconds(6));
        table.Observe(Record("a", "a1"), _died);
        table.Sweep(_died);
        Assert.Equal(2, table.Snapshot().Count);

        _time.Advance(NodeTable.ForgetAfter);
        table.Observe(Record("a", "a1"), _died);
        table.Sweep(_died);

        Assert.Equal("a", Assert.Single(table.Snapshot()).NodeId);
    }

    [Fact]
    public void NodeRecord_JsonRoundTrip_AndGarbageIsNull()
    {
        var record = Record("b", "b1") with { MqttPort = 1883, HttpPort = 8080, Connections = 7 };
        Assert.Equal(record, NodeRecord.FromJson(record.ToJson()));
        Assert.Null(NodeRecord.FromJson("not json"u8));
        Assert.Null(NodeRecord.FromJson("{}"u8));
    }

    private NodeRecord Record(string node, string incarnation, int startedAt = 0) =>
        new(node, incarnation, DateTimeOffset.UnixEpoch.AddSeconds(startedAt), _time.GetUtcNow(), "1.0", "host", null, null, null, 0);
}
