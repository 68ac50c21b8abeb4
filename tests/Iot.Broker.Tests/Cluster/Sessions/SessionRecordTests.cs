using Iot.Broker.Cluster.Sessions;
using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;

namespace Iot.Broker.Tests.Cluster.Sessions;

/// <summary>The session record's stored form and its expiry rule.</summary>
public sealed class SessionRecordTests
{
    [Fact]
    public void ToBytes_FromBytes_KeepsEveryField()
    {
        var will = BrokerMessageSerializer.Serialize(new BrokerMessage { Topic = "w/1", Payload = new byte[] { 1, 2 }, QualityOfService = 1 });
        var record = new SessionRecord(
            "c.1", "svc", 3600, 5, "node-a", 7, Connected: true, 0,
            [new PersistedSubscription("a/#", 1, NoLocal: true, RetainAsPublished: false, RetainHandling: 2, SubscriptionIdentifier: 9)],
            [3, 65535], will, 30);

        var back = SessionRecord.FromBytes(record.ToBytes());

        Assert.Equal(record.ClientId, back.ClientId);
        Assert.Equal(record.Owner, back.Owner);
        Assert.Equal(record.ExpirySeconds, back.ExpirySeconds);
        Assert.Equal(record.Node, back.Node);
        Assert.Equal(record.Epoch, back.Epoch);
        Assert.True(back.Connected);
        Assert.Equal(record.Subscriptions, back.Subscriptions);
        Assert.Equal(record.InboundQos2, back.InboundQos2);
        Assert.Equal(will, back.Will);
        Assert.Equal(30u, back.WillDelaySeconds);
        Assert.Equal("w/1", BrokerMessageSerializer.Deserialize(back.Will).Topic);
    }

    [Fact]
    public void IsExpired_OnlyDisconnectedAndPastItsExpiry_NeverWithMaxExpiry()
    {
        var disconnected = new SessionRecord("c", "", 10, 5, "n", 1, Connected: false, DisconnectedAtUnixMs: 1_000, [], []);

        Assert.False(disconnected.IsExpired(10_999));
        Assert.True(disconnected.IsExpired(11_000));
        Assert.False((disconnected with { Connected = true }).IsExpired(1_000_000));
        Assert.False((disconnected with { ExpirySeconds = uint.MaxValue }).IsExpired(long.MaxValue));
    }
}
