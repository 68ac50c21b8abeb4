using Iot.Broker.Security;
using Iot.Broker.Security.AccessControl;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Tests.Security;

public class AccessControlTests
{
    private static readonly IotPrincipal Device1 = new("d1", "d1", IdentityRole.Device);
    private static readonly IotPrincipal Service = new("backend-1", "backend", IdentityRole.Service);
    private static readonly IotPrincipal Dashboard = new("dash-1", "dash", IdentityRole.Dashboard);
    private static readonly IotPrincipal Anonymous = new("mqtt-explorer", null, null);

    private static RuleBasedAccessControl Defaults() => new(new AccessControlOptions());

    private static RuleBasedAccessControl FromConfiguration(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var provider = new ServiceCollection().AddIotAccessControl(configuration).BuildServiceProvider();
        return Assert.IsType<RuleBasedAccessControl>(provider.GetRequiredService<IAccessControl>());
    }

    private static OptionsValidationException ValidationFailure(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var provider = new ServiceCollection().AddIotAccessControl(configuration).BuildServiceProvider();
        return Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<AccessControlOptions>>().Value);
    }

    /// <summary>Checks through both paths: the per-call engine and the per-connection compiled ACL.</summary>
    private static void AssertPublish(IAccessControl acl, IotPrincipal principal, string topic, bool expected)
    {
        Assert.True(expected == acl.CanPublish(principal, topic), $"CanPublish({principal.ClientId}, {topic}) should be {expected}");
        Assert.True(expected == acl.Compile(principal).CanPublish(topic), $"Compile({principal.ClientId}).CanPublish({topic}) should be {expected}");
    }

    private static void AssertSubscribe(IAccessControl acl, IotPrincipal principal, string filter, bool expected)
    {
        Assert.True(expected == acl.CanSubscribe(principal, filter), $"CanSubscribe({principal.ClientId}, {filter}) should be {expected}");
        Assert.True(expected == acl.Compile(principal).CanSubscribe(filter), $"Compile({principal.ClientId}).CanSubscribe({filter}) should be {expected}");
    }

    [Theory]
    [InlineData("devices/d1/telemetry", true)]
    [InlineData("devices/d1/events/alarm", true)]
    [InlineData("devices/d1/responses/c-42", true)]
    [InlineData("devices/d1", true)]
    [InlineData("devices/d1/commands/reboot/c-1", false)]
    [InlineData("devices/d1/commands", false)]
    [InlineData("devices/d2/telemetry", false)]
    [InlineData("devices/d10/telemetry", false)]
    [InlineData("devices/d/telemetry", false)]
    [InlineData("devices//telemetry", false)]
    [InlineData("aggregates/telemetry/1m/d1", false)]
    [InlineData("other", false)]
    [InlineData("$SYS/broker/clients", false)]
    [InlineData("devices/+/telemetry", false)]
    [InlineData("devices/d1/#", false)]
    [InlineData("", false)]
    public void CanPublish_DeviceDefaults_OnlyUnderItsOwnPrefix(string topic, bool expected) =>
        AssertPublish(Defaults(), Device1, topic, expected);

    [Theory]
    [InlineData("devices/d1/commands/#", true)]
    [InlineData("devices/d1/commands/reboot/c-1", true)]
    [InlineData("devices/d1/commands/+/x", true)]
    [InlineData("devices/d1/commands/+/+", true)]
    [InlineData("devices/d1/commands", true)]
    [InlineData("devices/+/commands/#", false)]
    [InlineData("devices/d1/#", false)]
    [InlineData("devices/d1/+/reboot", false)]
    [InlineData("devices/d1/telemetry", false)]
    [InlineData("devices/d2/commands/x", false)]
    [InlineData("#", false)]
    [InlineData("+/d1/commands/#", false)]
    [InlineData("aggregates/#", false)]
    [InlineData("$SYS/#", false)]
    [InlineData("devices/d1/commands/#/x", false)]
    [InlineData("", false)]
    public void CanSubscribe_DeviceDefaults_OnlyItsOwnCommands(string filter, bool expected) =>
        AssertSubscribe(Defaults(), Device1, filter, expected);

    [Theory]
    [InlineData("aggregates/#", true)]
    [InlineData("aggregates/telemetry/1m/d1", true)]
    [InlineData("aggregates/+/+/d1", true)]
    [InlineData("aggregates", true)]
    [InlineData("#", false)]
    [InlineData("+/telemetry/1m/d1", false)]
    [InlineData("devices/d1/telemetry", false)]
    [InlineData("devices/+/commands/#", false)]
    [InlineData("$SYS/#", false)]
    public void CanSubscribe_DashboardDefaults_OnlyAggregates(string filter, bool expected) =>
        AssertSubscribe(Defaults(), Dashboard, filter, expected);

    [Theory]
    [InlineData("aggregates/telemetry/1m/d1")]
    [InlineData("devices/d1/commands/reboot/c-1")]
    [InlineData("devices/dash-1/telemetry")]
    [InlineData("anything")]
    public void CanPublish_DashboardDefaults_Never(string topic) => AssertPublish(Defaults(), Dashboard, topic, false);

    [Theory]
    [InlineData("devices/d1/commands/reboot/c-1", true)]
    [InlineData("devices/d2/commands/x", true)]
    [InlineData("devices/d1/commands", true)]
    [InlineData("commands/d1/reboot/c-1", true)]
    [InlineData("commands/d1/reboot", true)]
    [InlineData("devices/d1/telemetry", false)]
    [InlineData("devices/d1/responses/c-1", false)]
    [InlineData("aggregates/telemetry/1m/d1", false)]
    [InlineData("backend/anything", false)]
    [InlineData("$SYS/broker", false)]
    public void CanPublish_ServiceDefaults_OnlyCommands(string topic, bool expected) =>
        AssertPublish(Defaults(), Service, topic, expected);

    [Theory]
    [InlineData("#")]
    [InlineData("devices/+/telemetry")]
    [InlineData("devices/d1/responses/#")]
    [InlineData("aggregates/#")]
    [InlineData("+")]
    [InlineData("$SYS/#")]
    [InlineData("$SYS/broker/clients")]
    public void CanSubscribe_ServiceDefaults_ReadsEverything(string filter) => AssertSubscribe(Defaults(), Service, filter, true);

    [Theory]
    [InlineData("$other/#")]
    [InlineData("$other")]
    public void CanSubscribe_ServiceDollarTopicOutsideSys_Denied(string filter) => AssertSubscribe(Defaults(), Service, filter, false);

    [Theory]
    [InlineData("devices/d1/telemetry", true)]
    [InlineData("devices/d1/commands/x/y", true)]
    [InlineData("test/topic", true)]
    [InlineData("/leading/slash", true)]
    [InlineData("$SYS/broker", false)]
    public void CanPublish_AnonymousDefaults_AnyTopicButDollar(string topic, bool expected) =>
        AssertPublish(Defaults(), Anonymous, topic, expected);

    [Theory]
    [InlineData("#")]
    [InlineData("+/+")]
    [InlineData("devices/+/commands/#")]
    [InlineData("$SYS/#")]
    public void CanSubscribe_AnonymousDefaults_Everything(string filter) => AssertSubscribe(Defaults(), Anonymous, filter, true);

    [Theory]
    [InlineData("+")]
    [InlineData("#")]
    [InlineData("a/b")]
    [InlineData("")]
    [InlineData("$SYS")]
    [InlineData("a\0b")]
    public void Compile_DeviceWithUnsafeClientId_PlaceholderRulesMatchNothing(string clientId)
    {
        var acl = Defaults();
        var device = new IotPrincipal(clientId, clientId, IdentityRole.Device);

        AssertPublish(acl, device, "devices/x/telemetry", false);
        AssertPublish(acl, device, "devices/a/b/telemetry", false);
        AssertPublish(acl, device, "devices/d1/telemetry", false);
        AssertSubscribe(acl, device, "devices/+/commands/#", false);
        AssertSubscribe(acl, device, "devices/#", false);
        AssertSubscribe(acl, device, "#", false);
        AssertSubscribe(acl, device, "devices/a/b/commands/#", false);
    }

    [Fact]
    public void CanSubscribe_DeviceClientIdPlus_CannotWidenToEveryDevice()
    {
        // The classic injection: with plain string substitution, client id '+' would turn
        // devices/{clientid}/commands/# into devices/+/commands/#, every device's commands.
        var attacker = new IotPrincipal("+", "+", IdentityRole.Device);

        AssertSubscribe(Defaults(), attacker, "devices/+/commands/#", false);
        AssertSubscribe(Defaults(), attacker, "devices/d1/commands/#", false);
    }

    [Fact]
    public void CanPublish_DeviceClientIdWithDollarAtPatternStart_MatchesNothing()
    {
        var acl = new RuleBasedAccessControl(Options(Rule("allow", "all", "device", "{clientid}/#")));
        var device = new IotPrincipal("$SYS", "$SYS", IdentityRole.Device);
        var ordinary = new IotPrincipal("d1", "d1", IdentityRole.Device);

        AssertPublish(acl, device, "$SYS/broker", false);
        AssertPublish(acl, ordinary, "d1/x", true);
        AssertSubscribe(acl, ordinary, "d1/#", true);
    }

    [Fact]
    public void CanPublish_UsernamePlaceholder_SubstitutesIdentity()
    {
        var acl = new RuleBasedAccessControl(Options(Rule("allow", "publish", "service", "backends/{username}/status")));

        AssertPublish(acl, Service, "backends/backend/status", true);
        AssertPublish(acl, Service, "backends/backend-1/status", false);
        AssertPublish(acl, new IotPrincipal("c", "other", IdentityRole.Service), "backends/backend/status", false);
    }

    [Fact]
    public void CanPublish_UsernamePlaceholderForAnonymous_MatchesNothing()
    {
        var acl = new RuleBasedAccessControl(Options(Rule("allow", "all", "any", "users/{username}/#"), useDefaults: false));

        AssertPublish(acl, Anonymous, "users//x", false);
        AssertPublish(acl, Anonymous, "users/mqtt-explorer/x", false);
        AssertPublish(acl, Device1, "users/d1/x", true);
    }

    [Fact]
    public void CanPublish_PlaceholderInsideLevel_ComparesWholeLevel()
    {
        var acl = new RuleBasedAccessControl(Options(Rule("allow", "all", "device", "raw/{clientid}-in/{username}.{clientid}")));

        AssertPublish(acl, Device1, "raw/d1-in/d1.d1", true);
        AssertPublish(acl, Device1, "raw/d1-in/d1.d2", false);
        AssertPublish(acl, Device1, "raw/d1-inx/d1.d1", false);
        AssertPublish(acl, Device1, "raw/d1/d1.d1", false);
        AssertSubscribe(acl, Device1, "raw/d1-in/+", false);
        AssertSubscribe(acl, Device1, "raw/d1-in/d1.d1", true);
    }

    [Fact]
    public void Evaluate_DenyBeforeAllow_DenyWins()
    {
        var acl = new RuleBasedAccessControl(Options(
            Rule("deny", "publish", "device", "devices/{clientid}/commands/#"),
            Rule("deny", "subscribe", "service", "devices/secret/#")));

        AssertPublish(acl, Device1, "devices/d1/commands/x", false);
        AssertPublish(acl, Device1, "devices/d1/telemetry", true);

        // A filter inside the deny rule is refused; one that only overlaps it is granted by the default allow of '#'
        // after it, and its messages on devices/secret/... are filtered at delivery (DenyOverlapTests).
        AssertSubscribe(acl, Service, "devices/secret/x", false);
        AssertSubscribe(acl, Service, "devices/secret/#", false);
        AssertSubscribe(acl, Service, "devices/+/x", true);
        AssertSubscribe(acl, Service, "#", true);
        AssertSubscribe(acl, Service, "devices/public/x", true);
    }

    [Fact]
    public void Evaluate_AllowBeforeDeny_AllowWins()
    {
        var acl = new RuleBasedAccessControl(Options(
            Rule("allow", "subscribe", "device", "devices/+/telemetry"),
            Rule("deny", "subscribe", "device", "devices/+/telemetry")));

        AssertSubscribe(acl, Device1, "devices/d2/telemetry", true);
        AssertSubscribe(acl, Device1, "devices/+/telemetry", true);
    }

    [Fact]
    public void Evaluate_IdentityRule_AppliesToThatIdentityOnly()
    {
        var acl = new RuleBasedAccessControl(Options(
            new AclRule { Permission = AclDecision.Allow, Action = AclAction.Subscribe, Role = AclRole.Device, Identity = "gateway", Topic = "devices/+/commands/#" }));
        var gateway = new IotPrincipal("gateway", "gateway", IdentityRole.Device);

        AssertSubscribe(acl, gateway, "devices/+/commands/#", true);
        AssertSubscribe(acl, Device1, "devices/+/commands/#", false);
        AssertSubscribe(acl, new IotPrincipal("gateway", null, null), "devices/+/commands/#", true); // anonymous: default allow-all, not the identity rule
    }

    [Fact]
    public void Evaluate_RoleRule_DoesNotApplyToOtherRoles()
    {
        var acl = new RuleBasedAccessControl(Options(Rule("allow", "publish", "dashboard", "dashboards/#")));

        AssertPublish(acl, Dashboard, "dashboards/x", true);
        AssertPublish(acl, Device1, "dashboards/x", false);
        AssertPublish(acl, Service, "dashboards/x", false);
    }

    [Fact]
    public void Evaluate_UseDefaultRulesFalse_DeniesEverythingElse()
    {
        var acl = new RuleBasedAccessControl(Options(Rule("allow", "publish", "device", "devices/{clientid}/telemetry"), useDefaults: false));

        AssertPublish(acl, Device1, "devices/d1/telemetry", true);
        AssertPublish(acl, Device1, "devices/d1/events/x", false);
        AssertSubscribe(acl, Device1, "devices/d1/commands/#", false);
        AssertPublish(acl, Anonymous, "test", false);
        AssertSubscribe(acl, Service, "#", false);
    }

    [Fact]
    public void AddIotAccessControl_CustomRulesFromConfiguration_EvaluatedBeforeDefaults()
    {
        var acl = FromConfiguration(new()
        {
            ["Iot:Security:Acl:Rules:0:Permission"] = "allow",
            ["Iot:Security:Acl:Rules:0:Action"] = "subscribe",
            ["Iot:Security:Acl:Rules:0:Role"] = "device",
            ["Iot:Security:Acl:Rules:0:Topic"] = "firmware/#",
            ["Iot:Security:Acl:Rules:1:Permission"] = "Deny",
            ["Iot:Security:Acl:Rules:1:Action"] = "Publish",
            ["Iot:Security:Acl:Rules:1:Role"] = "Device",
            ["Iot:Security:Acl:Rules:1:Identity"] = "d1",
            ["Iot:Security:Acl:Rules:1:Topic"] = "devices/{clientid}/events/#",
        });

        AssertSubscribe(acl, Device1, "firmware/v2/#", true);
        AssertSubscribe(acl, Device1, "devices/d1/commands/#", true);
        AssertPublish(acl, Device1, "devices/d1/events/alarm", false);
        AssertPublish(acl, Device1, "devices/d1/telemetry", true);
        AssertPublish(acl, new IotPrincipal("d2", "d2", IdentityRole.Device), "devices/d2/events/alarm", true);
    }

    [Fact]
    public void AddIotAccessControl_UseDefaultRulesFalseFromConfiguration_OnlyConfiguredRules()
    {
        var acl = FromConfiguration(new()
        {
            ["Iot:Security:Acl:UseDefaultRules"] = "false",
            ["Iot:Security:Acl:Rules:0:Permission"] = "allow",
            ["Iot:Security:Acl:Rules:0:Action"] = "all",
            ["Iot:Security:Acl:Rules:0:Role"] = "any",
            ["Iot:Security:Acl:Rules:0:Topic"] = "public/#",
        });

        AssertPublish(acl, Device1, "public/x", true);
        AssertSubscribe(acl, Dashboard, "public/#", true);
        AssertPublish(acl, Device1, "devices/d1/telemetry", false);
    }

    [Theory]
    [InlineData("a/#/b")]
    [InlineData("a/b#")]
    [InlineData("a+/b")]
    [InlineData("devices/{deviceid}/#")]
    [InlineData("devices/{clientid/#")]
    [InlineData("a/\0")]
    public void Validate_InvalidPattern_FailsNamingTheRuleIndex(string topic)
    {
        var failure = ValidationFailure(new()
        {
            ["Iot:Security:Acl:Rules:0:Permission"] = "allow",
            ["Iot:Security:Acl:Rules:0:Action"] = "all",
            ["Iot:Security:Acl:Rules:0:Role"] = "device",
            ["Iot:Security:Acl:Rules:0:Topic"] = "ok/#",
            ["Iot:Security:Acl:Rules:1:Permission"] = "allow",
            ["Iot:Security:Acl:Rules:1:Action"] = "all",
            ["Iot:Security:Acl:Rules:1:Role"] = "device",
            ["Iot:Security:Acl:Rules:1:Topic"] = topic,
        });

        var message = Assert.Single(failure.Failures);
        Assert.Contains("Iot:Security:Acl:Rules:1", message, StringComparison.Ordinal);
        Assert.Contains("Topic", message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Permission")]
    [InlineData("Action")]
    [InlineData("Role")]
    [InlineData("Topic")]
    public void Validate_MissingRequiredField_FailsNamingIt(string missing)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Iot:Security:Acl:Rules:0:Permission"] = "allow",
            ["Iot:Security:Acl:Rules:0:Action"] = "all",
            ["Iot:Security:Acl:Rules:0:Role"] = "device",
            ["Iot:Security:Acl:Rules:0:Topic"] = "a/#",
        };
        settings.Remove("Iot:Security:Acl:Rules:0:" + missing);

        var message = Assert.Single(ValidationFailure(settings).Failures);
        Assert.Contains("Iot:Security:Acl:Rules:0", message, StringComparison.Ordinal);
        Assert.Contains(missing, message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_DefaultRules_AreValid()
    {
        Assert.All(DefaultAclRules.Rules, rule => Assert.Null(AccessControlOptionsValidator.ValidateRule(rule)));
        Assert.True(new AccessControlOptionsValidator().Validate(null, new AccessControlOptions()).Succeeded);
    }

    [Theory]
    [InlineData("#", "#", true)]
    [InlineData("#", "a", true)]
    [InlineData("#", "a/b/c", true)]
    [InlineData("#", "+/+", true)]
    [InlineData("#", "/", true)]
    [InlineData("#", "$SYS/x", false)]
    [InlineData("#", "$SYS/#", false)]
    [InlineData("a/#", "a", true)]
    [InlineData("a/#", "a/#", true)]
    [InlineData("a/#", "a/+", true)]
    [InlineData("a/#", "a/b/+/#", true)]
    [InlineData("a/#", "#", false)]
    [InlineData("a/#", "+/#", false)]
    [InlineData("a/#", "b", false)]
    [InlineData("a/+", "a/b", true)]
    [InlineData("a/+", "a/+", true)]
    [InlineData("a/+", "a/#", false)]
    [InlineData("a/+", "a", false)]
    [InlineData("a/+", "a/b/c", false)]
    [InlineData("a/+", "a/", true)]
    [InlineData("a/b", "a/b", true)]
    [InlineData("a/b", "a/+", false)]
    [InlineData("a/b", "a/#", false)]
    [InlineData("a/b", "a/b/c", false)]
    [InlineData("a/b", "a", false)]
    [InlineData("+", "a", true)]
    [InlineData("+", "+", true)]
    [InlineData("+", "$SYS", false)]
    [InlineData("+/#", "a", true)]
    [InlineData("+/#", "#", true)]
    [InlineData("+/#", "$SYS/#", false)]
    [InlineData("$SYS/#", "$SYS/broker/+", true)]
    [InlineData("$SYS/#", "#", false)]
    [InlineData("+/b/#", "x/b", true)]
    [InlineData("+/b/#", "x/+/c", false)]
    public void Covers_FilterAgainstPattern_Table(string pattern, string filter, bool expected)
    {
        Assert.True(AclPattern.TryParse(pattern, out var parsed, out var error), error);
        Assert.Equal(expected, parsed.Covers(filter, "c", "u"));
    }

    [Theory]
    [InlineData("#", "a/b", true)]
    [InlineData("#", "$SYS/#", false)]
    [InlineData("#", "$SYS", false)]
    [InlineData("$SYS/#", "#", false)]
    [InlineData("$SYS/#", "+/x", false)]
    [InlineData("$SYS/#", "$SYS", true)]
    [InlineData("+/x", "$SYS/x", false)]
    [InlineData("a/b", "a/#", true)]
    [InlineData("a/b", "+/b", true)]
    [InlineData("a/b", "a/c", false)]
    [InlineData("a/b", "a", false)]
    [InlineData("a", "a/#", true)]
    [InlineData("a", "a/+", false)]
    [InlineData("a/#", "a", true)]
    [InlineData("a/+", "a", false)]
    [InlineData("a/+", "+/b/c", false)]
    [InlineData("a/+/c", "+/b/#", true)]
    [InlineData("+", "#", true)]
    public void Overlaps_FilterAgainstPattern_Table(string pattern, string filter, bool expected)
    {
        Assert.True(AclPattern.TryParse(pattern, out var parsed, out var error), error);
        Assert.Equal(expected, parsed.Overlaps(filter, "c", "u"));
    }

    [Theory]
    [InlineData("#", "a/b", true)]
    [InlineData("#", "$SYS/x", false)]
    [InlineData("+/x", "$SYS/x", false)]
    [InlineData("$SYS/#", "$SYS", true)]
    [InlineData("$SYS/#", "$SYS/x/y", true)]
    [InlineData("a/#", "a", true)]
    [InlineData("a/+", "a", false)]
    [InlineData("a/+", "a/", true)]
    [InlineData("a/+/c", "a/b/c", true)]
    [InlineData("a/+/c", "a/b/d", false)]
    [InlineData("a/b", "a/b/c", false)]
    [InlineData("d/{clientid}/#", "d/c/x", true)]
    [InlineData("d/{clientid}/#", "d/u/x", false)]
    [InlineData("d/{username}", "d/u", true)]
    public void MatchesTopic_AgreesWithTopicNamesMatches(string pattern, string topic, bool expected)
    {
        Assert.True(AclPattern.TryParse(pattern, out var parsed, out var error), error);
        Assert.Equal(expected, parsed.MatchesTopic(topic, "c", "u"));
        if (!pattern.Contains('{', StringComparison.Ordinal))
        {
            Assert.Equal(Iot.Messaging.Topics.TopicNames.Matches(topic, pattern), expected);
        }
    }

    [Fact]
    public void CanPublish_DeviceDefaults_DoesNotAllocate()
    {
        var acl = Defaults();
        var compiled = acl.Compile(Device1);
        Assert.True(acl.CanPublish(Device1, "devices/d1/telemetry"));
        Assert.True(compiled.CanPublish("devices/d1/telemetry"));

        Assert.Equal(0, Iot.TestUtilities.SteadyStateAllocations.Of(() =>
        {
            acl.CanPublish(Device1, "devices/d1/telemetry");
            compiled.CanPublish("devices/d1/telemetry");
            compiled.CanPublish("devices/d2/telemetry");
        }));
    }

    [Fact]
    public void Compile_FakeWithoutCompile_DefaultDelegates()
    {
        IAccessControl fake = new AllowTelemetryOnly();
        var compiled = fake.Compile(Device1);

        Assert.True(compiled.CanPublish("telemetry"));
        Assert.False(compiled.CanPublish("other"));
        Assert.False(compiled.CanSubscribe("#"));
    }

    private static AccessControlOptions Options(AclRule rule, bool useDefaults) => Options([rule], useDefaults);

    private static AccessControlOptions Options(params AclRule[] rules) => Options(rules, true);

    private static AccessControlOptions Options(AclRule[] rules, bool useDefaults)
    {
        var options = new AccessControlOptions { UseDefaultRules = useDefaults };
        foreach (var rule in rules)
        {
            options.Rules.Add(rule);
        }

        return options;
    }

    private static AclRule Rule(string permission, string action, string role, string topic) => new()
    {
        Permission = Enum.Parse<AclDecision>(permission, ignoreCase: true),
        Action = Enum.Parse<AclAction>(action, ignoreCase: true),
        Role = Enum.Parse<AclRole>(role, ignoreCase: true),
        Topic = topic,
    };

    private sealed class AllowTelemetryOnly : IAccessControl
    {
        public bool CanPublish(IotPrincipal principal, string topic) => topic == "telemetry";

        public bool CanSubscribe(IotPrincipal principal, string filter) => false;
    }
}
