using Iot.Broker.Cluster.Sessions;
using Iot.Broker.Mqtt.Persistence;

namespace Iot.Broker.Tests.Cluster;

/// <summary>
/// Issue 18: the shared groups' members across the cluster, from the session records, and the pick of the node a message
/// is published on: connected members on live nodes first, else a persistent member whose queue keeps the message.
/// </summary>
public sealed class SharedGroupMembersTests
{
    private static readonly Func<string, bool> AllAlive = _ => true;

    [Fact]
    public void Records_CleanAndPersistent_MakeOneGroupPerShareAndFilter_AndOnlySharedSubscriptionsCount()
    {
        var members = new SharedGroupMembers();
        members.Apply("k1", Record("w1", "n1", connected: true, expiry: 0, "$share/g/a/#", "a/plain"));
        members.Apply("k2", Record("w2", "n2", connected: true, expiry: 3600, "$share/g/a/#", "$share/h/a/#"));

        var groups = Match(members, "a/b");
        Assert.Equal(["g", "h"], groups.Select(g => g.Share).Order());
        var g = groups.Single(x => x.Share == "g");
        Assert.Equal(["w1", "w2"], g.Members.Select(m => m.ClientId).Order());
        Assert.False(g.Members.Single(m => m.ClientId == "w1").Persistent);
        Assert.True(g.Members.Single(m => m.ClientId == "w2").Persistent);
        Assert.Empty(Match(members, "b"));
    }

    [Fact]
    public void RecordChangedOrGone_ReplacesOrRemovesTheMember_AndAnEmptyGroupLeaves()
    {
        var members = new SharedGroupMembers();
        members.Apply("k1", Record("w1", "n1", connected: true, expiry: 60, "$share/g/x"));
        var group = Assert.Single(Match(members, "x"));

        members.Apply("k1", Record("w1", "n1", connected: false, expiry: 60, "$share/g/x"));
        Assert.Same(group, Assert.Single(Match(members, "x")));
        Assert.False(Assert.Single(group.Members).Connected);

        members.Apply("k1", Record("w1", "n1", connected: false, expiry: 60));
        Assert.Empty(Match(members, "x"));
        Assert.Equal(0, members.GroupCount);

        members.Apply("k1", Record("w1", "n1", connected: true, expiry: 0, "$share/g/x"));
        members.Apply("k1", null);
        Assert.Empty(Match(members, "x"));
    }

    [Fact]
    public void Pick_ConnectedMembersOnLiveNodes_TakeTurns()
    {
        var members = new SharedGroupMembers();
        members.Apply("k1", Record("w1", "n1", connected: true, expiry: 0, "$share/g/x"));
        members.Apply("k2", Record("w2", "n2", connected: true, expiry: 60, "$share/g/x"));
        members.Apply("k3", Record("w3", "n3", connected: false, expiry: 60, "$share/g/x"));
        var group = Assert.Single(Match(members, "x"));

        var picks = Enumerable.Range(0, 100).Select(_ => group.Pick(1, AllAlive)!.ClientId).ToList();
        Assert.Equal(50, picks.Count(p => p == "w1"));
        Assert.Equal(50, picks.Count(p => p == "w2"));
    }

    [Fact]
    public void Pick_MembersOnADeadNode_AreSkipped_AndWithNoneConnected_APersistentMemberQueuesQos1ButNotQos0()
    {
        var members = new SharedGroupMembers();
        members.Apply("k1", Record("w1", "dead", connected: true, expiry: 0, "$share/g/x"));
        members.Apply("k2", Record("w2", "dead", connected: true, expiry: 60, "$share/g/x", qos: 1));
        var group = Assert.Single(Match(members, "x"));
        bool IsAlive(string node) => node != "dead";

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal("w2", group.Pick(1, IsAlive)!.ClientId);
            Assert.Null(group.Pick(0, IsAlive));
        }

        members.Apply("k3", Record("w3", "n3", connected: true, expiry: 0, "$share/g/x"));
        Assert.All(Enumerable.Range(0, 10), _ => Assert.Equal("w3", group.Pick(1, IsAlive)!.ClientId));
    }

    [Fact]
    public void Pick_PersistentMemberGrantedQos0_DoesNotQueue()
    {
        var members = new SharedGroupMembers();
        members.Apply("k1", Record("w1", "n1", connected: false, expiry: 60, "$share/g/x", qos: 0));
        Assert.Null(Assert.Single(Match(members, "x")).Pick(1, AllAlive));
    }

    private static List<ClusterSharedGroup> Match(SharedGroupMembers members, string topic)
    {
        var results = new List<ClusterSharedGroup>();
        members.Match(topic, results);
        return results;
    }

    private static SessionRecord Record(string clientId, string node, bool connected, uint expiry, params string[] filters) =>
        Record(clientId, node, connected, expiry, filters, 1);

    private static SessionRecord Record(string clientId, string node, bool connected, uint expiry, string filter, byte qos) =>
        Record(clientId, node, connected, expiry, [filter], qos);

    private static SessionRecord Record(string clientId, string node, bool connected, uint expiry, string[] filters, byte qos) =>
        new(clientId, string.Empty, expiry, 5, node, 1, connected, connected ? 0 : 1,
            [.. filters.Select(f => new PersistedSubscription(f, qos, false, false, 0, 0))], []);
}
