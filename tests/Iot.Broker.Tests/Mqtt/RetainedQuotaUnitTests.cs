using System.Text;
using Iot.Broker.Mqtt;
using Iot.Broker.Security;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Tests.Mqtt;

/// <summary>Issue 16, finding 6: how retained messages are charged to their owners.</summary>
public sealed class RetainedQuotaUnitTests
{
    private readonly MqttOptions _options = new() { MaxRetainedMessagesPerIdentity = 2, MaxRetainedBytesPerIdentity = 100, MaxRetainedMessages = 3 };
    private readonly BrokerMetrics _metrics = new();
    private readonly RetainedMessages _retained;

    public RetainedQuotaUnitTests() =>
        _retained = new RetainedMessages(new BrokerContext(Options.Create(_options), new NoStore(), _metrics, new ManualTime()));

    [Fact]
    public void Apply_ReplacingOwnTopic_ChargesTheDifferenceInBytes_AndClearingFrees()
    {
        var device = Owner("d1", IdentityRole.Device);
        Assert.True(Apply("a", new string('x', 40), device));
        Assert.True(Apply("a", new string('x', 90), device));
        var owner = _retained.Quota.Get(device)!;
        Assert.Equal((1, 91L), (owner.Count, owner.Bytes));

        Assert.False(Apply("b", new string('x', 20), device));
        Assert.Equal(1, _metrics.LimitHits(LimitKind.RetainedPerIdentity));
        Assert.True(Apply("a", "", device));
        Assert.Equal((0, 0L), (owner.Count, owner.Bytes));
        Assert.Equal((0, 0L), (_retained.OwnedCount, _retained.OwnedBytes));
    }

    [Fact]
    public void Apply_OnAnotherIdentitysTopic_MovesTheChargeToThePublisher()
    {
        var first = Owner("d1", IdentityRole.Device);
        var second = Owner("d2", IdentityRole.Device);
        Assert.True(Apply("shared", "1", first));
        Assert.True(Apply("shared", "22", second));
        Assert.Equal(0, _retained.Quota.Get(first)!.Count);
        Assert.Equal((1, 8L), (_retained.Quota.Get(second)!.Count, _retained.Quota.Get(second)!.Bytes));
    }

    [Fact]
    public void Apply_OverTheTotal_IsRefused_AnonymousAndServicesShareIt_TheBrokersOwnIsNotCharged()
    {
        var anonymous = Owner(null, null);
        var service = Owner("svc", IdentityRole.Service);
        Assert.True(Apply("a1", "x", anonymous));
        Assert.True(Apply("a2", "x", anonymous));
        Assert.True(Apply("s1", "x", service));
        Assert.False(Apply("s2", "x", service));
        Assert.Equal(1, _metrics.LimitHits(LimitKind.RetainedTotal));
        Assert.True(Apply("aggregates/x", "x", 0));
        Assert.Equal(3, _retained.OwnedCount);
        Assert.Equal(4, _retained.Count);
    }

    [Fact]
    public void Restore_ChargesTheStoredOwner_OrForOldRecordsThePublishersClientId()
    {
        _retained.Restore(new BrokerMessage { Topic = "t1", Payload = Encoding.UTF8.GetBytes("v"), SourceClientId = "c1" }, "svc");
        _retained.Restore(new BrokerMessage { Topic = "t2", Payload = Encoding.UTF8.GetBytes("v"), SourceClientId = "d9" });
        _retained.Restore(new BrokerMessage { Topic = "t3", Payload = Encoding.UTF8.GetBytes("v") });
        Assert.Equal(1, _retained.Quota.OwnerFor("svc").Count);
        Assert.Equal(1, _retained.Quota.OwnerFor("d9").Count);
        Assert.Equal(2, _retained.OwnedCount);

        // Limits apply again when the identity connects: d9 is at 1 of 2.
        var d9 = Owner("d9", IdentityRole.Device);
        Assert.True(Apply("t4", "v", d9));
        Assert.False(Apply("t5", "v", d9));
    }

    private int Owner(string? identity, IdentityRole? role) => _retained.Quota.OwnerIdFor(new IotPrincipal("client", identity, role));

    private bool Apply(string topic, string payload, int owner)
    {
        var durable = default(DurableWrites);
        return _retained.Apply(
            new BrokerMessage { Topic = topic, Payload = Encoding.UTF8.GetBytes(payload), Retain = true, RetainedOwnerId = owner },
            ref durable);
    }
}
