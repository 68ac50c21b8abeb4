using Iot.Broker.Mqtt;
using Iot.Broker.Security;
using Iot.Broker.Security.AccessControl;
using Iot.Broker.Tests.Mqtt;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Tests.Security;

/// <summary>
/// Deny rules on overlapping filters (issue 17): a filter inside a deny rule is refused, one that only shares some topics
/// with it is granted with a <see cref="DeliveryCheck"/>, one that shares none is granted without a check.
/// </summary>
public sealed class DenyOverlapTests
{
    private static readonly IotPrincipal Service = new("backend-1", "backend", IdentityRole.Service);

    public enum Grant
    {
        Refused,
        Checked,
        Unchecked,
    }

    [Theory]
    [InlineData("secret/#", "secret/#", Grant.Refused)]
    [InlineData("secret/#", "secret/x", Grant.Refused)]
    [InlineData("secret/#", "secret", Grant.Refused)]
    [InlineData("secret/#", "secret/+/y", Grant.Refused)]
    [InlineData("secret/#", "#", Grant.Checked)]
    [InlineData("secret/#", "+", Grant.Checked)]
    [InlineData("secret/#", "+/x", Grant.Checked)]
    [InlineData("secret/#", "+/#", Grant.Checked)]
    [InlineData("secret/#", "a/b", Grant.Unchecked)]
    [InlineData("secret/#", "a/#", Grant.Unchecked)]
    [InlineData("secret/#", "secretive/#", Grant.Unchecked)]
    [InlineData("secret/#", "$SYS/#", Grant.Unchecked)]
    [InlineData("secret/x", "secret/+", Grant.Checked)]
    [InlineData("secret/x", "secret/x", Grant.Refused)]
    [InlineData("secret/x", "secret/x/#", Grant.Checked)]
    [InlineData("+/secret/#", "#", Grant.Checked)]
    [InlineData("+/secret/#", "a/secret/x", Grant.Refused)]
    [InlineData("+/secret/#", "a/+/x", Grant.Checked)]
    [InlineData("+/secret/#", "a/public/#", Grant.Unchecked)]
    [InlineData("+/secret/#", "$SYS/secret/x", Grant.Unchecked)]
    [InlineData("$SYS/broker/#", "$SYS/#", Grant.Checked)]
    [InlineData("$SYS/broker/#", "$SYS/broker/clients", Grant.Refused)]
    [InlineData("$SYS/broker/#", "#", Grant.Unchecked)]
    [InlineData("$SYS/broker/#", "+/broker/#", Grant.Unchecked)]
    [InlineData("#", "#", Grant.Refused)]
    [InlineData("#", "a/b", Grant.Refused)]
    [InlineData("#", "$SYS/#", Grant.Unchecked)]
    public void CanSubscribe_DenyRuleBeforeTheServicesAllowAll_Classified(string deny, string filter, Grant expected)
    {
        var acl = WithRules(Deny(deny));

        Assert.Equal(expected, Classify(acl, Service, filter));
    }

    [Theory]
    [InlineData("a/b", true)]
    [InlineData("secret", false)]
    [InlineData("secret/x", false)]
    [InlineData("secret/x/y", false)]
    [InlineData("secretive/x", true)]
    [InlineData("a/secret/x", true)]
    public void DeliveryCheck_HashUnderDenySecret_OnlyTheDeniedTopicsAreRefused(string topic, bool delivered)
    {
        var check = CheckOf(WithRules(Deny("secret/#")), Service, "#");

        Assert.Equal(delivered, check.Allows(topic));
    }

    [Fact]
    public void DeliveryCheck_AllowBeforeDeny_FirstMatchingRuleDecidesPerTopic()
    {
        var acl = WithRules(Rule(AclDecision.Allow, "secret/public/#"), Deny("secret/#"));
        var check = CheckOf(acl, Service, "#");

        Assert.True(check.Allows("secret/public/x"));
        Assert.False(check.Allows("secret/x"));
        Assert.True(check.Allows("a/b"));
        Assert.Equal(Grant.Unchecked, Classify(acl, Service, "secret/public/#"));
        Assert.Equal(Grant.Refused, Classify(acl, Service, "secret/+"));
    }

    [Fact]
    public void DeliveryCheck_AllowAfterTheLastDeny_IsLeftOut()
    {
        var acl = WithRules(Deny("secret/#"), Rule(AclDecision.Allow, "a/#"));

        Assert.Equal(["deny secret/#"], CheckOf(acl, Service, "#").Patterns);
    }

    [Fact]
    public void DeliveryCheck_PlaceholderRule_EvaluatedWithTheSubscribersOwnValues()
    {
        var acl = WithRules(Deny("devices/{clientid}/private/#"));
        var check = CheckOf(acl, Service, "devices/+/private/#");

        Assert.False(check.Allows("devices/backend-1/private/x"));
        Assert.True(check.Allows("devices/other/private/x"));
        Assert.Equal(Grant.Refused, Classify(acl, Service, "devices/backend-1/private/#"));
    }

    [Fact]
    public void CanSubscribe_AllowBeforeDeny_GrantsWithoutCheck()
    {
        var acl = WithRules(Rule(AclDecision.Allow, "#"), Deny("secret/#"));

        Assert.Equal(Grant.Unchecked, Classify(acl, Service, "#"));
        Assert.Equal(Grant.Unchecked, Classify(acl, Service, "secret/x"));
    }

    [Fact]
    public void CanSubscribe_DeniedTopicName_IsExactAsADeliveryDecision()
    {
        // DropMessagesNotAllowed asks this for each queued message of a resumed session.
        var compiled = WithRules(Deny("secret/#")).Compile(Service);

        Assert.False(compiled.CanSubscribe("secret/x"));
        Assert.True(compiled.CanSubscribe("a/b"));
    }

    [Fact]
    public void Compile_FakeWithoutTheCheckOverload_GrantsWithoutCheck()
    {
        IPrincipalAcl fake = new AllowAll();

        Assert.True(fake.CanSubscribe("#", out var check));
        Assert.Null(check);
    }

    [Fact]
    public void MayDeliver_WithAndWithoutCheck_DoesNotAllocate()
    {
        var checkedSubscription = Subscribe(CheckOf(WithRules(Deny("secret/#"), Deny("+/secret/#")), Service, "#"));
        var plain = Subscribe(null);
        Assert.True(checkedSubscription.MayDeliver("a/b"));

        Assert.Equal(0, Iot.TestUtilities.SteadyStateAllocations.Of(() =>
        {
            checkedSubscription.MayDeliver("a/b/c");
            checkedSubscription.MayDeliver("secret/x");
            plain.MayDeliver("secret/x");
        }));
    }

    [Fact]
    public void Reauthorize_RightsChanged_CheckReplacedOrEverythingRefused()
    {
        var subscription = Subscribe(null);
        Assert.True(subscription.MayDeliver("secret/x"));

        Assert.True(subscription.Reauthorize(WithRules(Deny("secret/#")).Compile(Service)));
        Assert.False(subscription.MayDeliver("secret/x"));
        Assert.True(subscription.MayDeliver("a/b"));

        Assert.False(subscription.Reauthorize(WithRules(Deny("#")).Compile(Service)));
        Assert.False(subscription.MayDeliver("a/b"));

        Assert.True(subscription.Reauthorize(WithRules().Compile(Service)));
        Assert.Null(subscription.DeliveryCheck);
    }

    [Fact]
    public void SharedGroupPick_MemberDeniedTheTopic_AnotherMemberGetsIt()
    {
        var denied = Subscribe(CheckOf(WithRules(Deny("secret/#")), Service, "#"), "denied");
        var allowed = Subscribe(null, "allowed");
        var group = new SharedGroup { ShareName = "g", TopicFilter = "#" };
        group.AddOrReplace(denied);
        group.AddOrReplace(allowed);

        for (int i = 0; i < 4; i++)
        {
            Assert.Same(allowed, group.Pick("secret/x"));
        }

        group.Remove(allowed.Session);
        Assert.Null(group.Pick("secret/x"));
        Assert.Same(denied, group.Pick("a/b"));
    }

    [Fact]
    public void Publish_SubscriptionWithCheck_DeniedTopicIsNotQueued()
    {
        var context = new BrokerContext(Options.Create(new MqttOptions()), new NoStore(), new BrokerMetrics(), new ManualTime());
        var index = new SubscriptionIndex();
        var dispatcher = new MessageDispatcher(index, new RetainedMessages(context), context.Metrics);
        var session = new MqttSession(context, "offline") { SessionExpiryInterval = 3600 };
        var check = CheckOf(WithRules(Deny("secret/#")), Service, "#");
        index.Subscribe(new Subscription { Session = session, Filter = "#", TopicFilter = "#", QualityOfService = 1, DeliveryCheck = check });
        index.Subscribe(new Subscription { Session = session, Filter = "+/x", TopicFilter = "+/x", QualityOfService = 1, DeliveryCheck = check });

        dispatcher.PublishAsync(Message("secret/x"), "publisher");
        dispatcher.PublishAsync(Message("secret/y/z"), "publisher");
        dispatcher.PublishAsync(Message("a/x"), "publisher");

        Assert.Equal(1, session.QueuedCount);
        Assert.True(session.HasMatchingSubscription("a/x"));
        Assert.False(session.HasMatchingSubscription("secret/x"));
    }

    private static Grant Classify(RuleBasedAccessControl acl, IotPrincipal principal, string filter)
    {
        var compiled = acl.Compile(principal);
        var granted = compiled.CanSubscribe(filter, out var check);

        // Every path agrees: the per-call engine, the compiled ACL and its plain overload.
        Assert.Equal(granted, acl.CanSubscribe(principal, filter, out var uncompiledCheck));
        Assert.Equal(check is null, uncompiledCheck is null);
        Assert.Equal(granted, compiled.CanSubscribe(filter));
        Assert.Equal(granted, acl.CanSubscribe(principal, filter));
        Assert.True(granted || check is null, "a refused filter carries no check");
        return !granted ? Grant.Refused : check is null ? Grant.Unchecked : Grant.Checked;
    }

    private static DeliveryCheck CheckOf(RuleBasedAccessControl acl, IotPrincipal principal, string filter)
    {
        Assert.True(acl.Compile(principal).CanSubscribe(filter, out var check), $"{filter} should be granted");
        return Assert.IsType<DeliveryCheck>(check);
    }

    private static Subscription Subscribe(DeliveryCheck? check, string clientId = "subscriber") => new()
    {
        Session = new MqttSession(new BrokerContext(Options.Create(new MqttOptions()), new NoStore(), new BrokerMetrics(), new ManualTime()), clientId),
        Filter = "#",
        TopicFilter = "#",
        DeliveryCheck = check,
    };

    private static BrokerMessage Message(string topic) => new() { Topic = topic, Payload = new byte[] { 1 }, QualityOfService = 1 };

    private static RuleBasedAccessControl WithRules(params AclRule[] rules)
    {
        var options = new AccessControlOptions();
        foreach (var rule in rules)
        {
            options.Rules.Add(rule);
        }

        return new RuleBasedAccessControl(options);
    }

    private static AclRule Deny(string topic) => Rule(AclDecision.Deny, topic);

    private static AclRule Rule(AclDecision permission, string topic) =>
        new() { Permission = permission, Action = AclAction.Subscribe, Role = AclRole.Service, Topic = topic };

    private sealed class AllowAll : IPrincipalAcl
    {
        public bool CanPublish(string topic) => true;

        public bool CanSubscribe(string filter) => true;
    }
}
