using Iot.Messaging.Topics;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Security.AccessControl;

/// <summary>
/// <see cref="IAccessControl"/> over ordered <see cref="AclRule"/>s: the first rule that matches decides, and nothing
/// matching means deny.
/// </summary>
/// <remarks>
/// <para>Rules are parsed once and grouped per role at construction. A check walks only the rules of the principal's
/// role and compares topic levels as spans, comparing <c>{clientid}</c>/<c>{username}</c> parts with the principal's
/// values in place: no check allocates. <see cref="Compile"/> additionally resolves, once per connection, which rules
/// apply (identity, action, safe placeholder values), so that each later check walks only those.</para>
/// <para>Publish: the topic must match the pattern (MQTT §4.7, leading wildcards do not match <c>$</c> topics).
/// Subscribe: an allow rule grants the filter only when it covers every topic the filter can match; a deny rule refuses
/// it when it covers it. A deny rule that shares only some topics with the filter decides nothing: a later allow rule
/// may still grant the filter, and then the messages are checked at delivery (<see cref="DeliveryCheck"/>), as
/// Mosquitto does. Coverage by a union of several allow rules is not considered (denied).</para>
/// </remarks>
internal sealed class RuleBasedAccessControl : IAccessControl
{
    private static readonly AclRole[] PrincipalRoles = [AclRole.Device, AclRole.Service, AclRole.Dashboard, AclRole.Anonymous];

    // Indexed by AclRole; the Any slot stays empty because a principal always has a concrete role.
    private readonly CompiledAclRule[][] _rulesByRole;

    public RuleBasedAccessControl(IOptions<AccessControlOptions> options)
        : this(options?.Value ?? throw new ArgumentNullException(nameof(options)))
    {
    }

    internal RuleBasedAccessControl(AccessControlOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var rules = new List<CompiledAclRule>();
        for (int i = 0; i < options.Rules.Count; i++)
        {
            rules.Add(new CompiledAclRule(options.Rules[i], $"{AccessControlOptions.SectionName}:Rules:{i}"));
        }

        if (options.UseDefaultRules)
        {
            for (int i = 0; i < DefaultAclRules.Rules.Count; i++)
            {
                rules.Add(new CompiledAclRule(DefaultAclRules.Rules[i], $"default:{i}"));
            }
        }

        _rulesByRole = new CompiledAclRule[Enum.GetValues<AclRole>().Length][];
        _rulesByRole[(int)AclRole.Any] = [];
        foreach (var role in PrincipalRoles)
        {
            _rulesByRole[(int)role] = [.. rules.Where(r => r.Role == AclRole.Any || r.Role == role)];
        }
    }

    /// <summary>The rules that can apply to principals of <paramref name="role"/>, in evaluation order.</summary>
    internal IReadOnlyList<CompiledAclRule> RulesFor(AclRole role) => _rulesByRole[(int)role];

    public bool CanPublish(IotPrincipal principal, string topic)
    {
        ArgumentNullException.ThrowIfNull(principal);
        return IsTopicName(topic) && EvaluatePublish(_rulesByRole[(int)RoleOf(principal)], principal, topic, filtered: false);
    }

    public bool CanSubscribe(IotPrincipal principal, string filter)
    {
        ArgumentNullException.ThrowIfNull(principal);
        return TopicNames.IsValidTopicFilter(filter) && EvaluateSubscribe(_rulesByRole[(int)RoleOf(principal)], principal, filter, filtered: false, out _);
    }

    /// <summary>
    /// Like <see cref="CanSubscribe(IotPrincipal, string)"/>, and when granted, the check its messages need at delivery
    /// (null when the filter shares no topic with a deny rule).
    /// </summary>
    public bool CanSubscribe(IotPrincipal principal, string filter, out DeliveryCheck? deliveryCheck)
    {
        ArgumentNullException.ThrowIfNull(principal);
        deliveryCheck = null;
        return TopicNames.IsValidTopicFilter(filter)
            && EvaluateSubscribe(_rulesByRole[(int)RoleOf(principal)], principal, filter, filtered: false, out deliveryCheck);
    }

    public IPrincipalAcl Compile(IotPrincipal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        var applicable = _rulesByRole[(int)RoleOf(principal)].Where(r => r.AppliesTo(principal)).ToArray();
        return new PrincipalAcl(principal, [.. applicable.Where(r => r.Publish)], [.. applicable.Where(r => r.Subscribe)]);
    }

    internal static AclRole RoleOf(IotPrincipal principal) => principal.Role switch
    {
        null => AclRole.Anonymous,
        IdentityRole.Device => AclRole.Device,
        IdentityRole.Service => AclRole.Service,
        IdentityRole.Dashboard => AclRole.Dashboard,

        // An unknown role gets no rights rather than someone else's; Any never indexes rules.
        _ => AclRole.Any,
    };

    /// <summary>A PUBLISH topic name: non-empty and without wildcards (full validation is the broker's job).</summary>
    private static bool IsTopicName(string? topic) => !string.IsNullOrEmpty(topic) && topic.AsSpan().IndexOfAny('+', '#') < 0;

    // filtered: the rules are already restricted to publish rules that apply to the principal (a compiled ACL).
    private static bool EvaluatePublish(CompiledAclRule[] rules, IotPrincipal principal, string topic, bool filtered)
    {
        foreach (var rule in rules)
        {
            if (!filtered && (!rule.Publish || !rule.AppliesTo(principal)))
            {
                continue;
            }

            if (rule.Pattern.MatchesTopic(topic, principal.ClientId, principal.Username))
            {
                return rule.Allow;
            }
        }

        return false;
    }

    // filtered: the rules are already restricted to subscribe rules that apply to the principal (a compiled ACL).
    private static bool EvaluateSubscribe(CompiledAclRule[] rules, IotPrincipal principal, string filter, bool filtered, out DeliveryCheck? deliveryCheck)
    {
        deliveryCheck = null;
        // The rules before the deciding one that share some topics with the filter: what a delivery check evaluates.
        List<CompiledAclRule>? overlapping = null;
        var lastDeny = -1;
        foreach (var rule in rules)
        {
            if (!filtered && (!rule.Subscribe || !rule.AppliesTo(principal)))
            {
                continue;
            }

            if (rule.Pattern.Covers(filter, principal.ClientId, principal.Username))
            {
                if (rule.Allow && lastDeny >= 0)
                {
                    // Allow rules after the last overlapping deny rule would let through what the granting rule does.
                    deliveryCheck = new DeliveryCheck([.. overlapping!.Take(lastDeny + 1)], principal);
                }

                return rule.Allow;
            }

            // A partial overlap decides nothing: a later rule may still cover the filter. A deny rule's topics are then
            // filtered at delivery, and an allow rule before it lets its own topics through there (first match wins).
            if (rule.Pattern.Overlaps(filter, principal.ClientId, principal.Username))
            {
                (overlapping ??= []).Add(rule);
                if (!rule.Allow)
                {
                    lastDeny = overlapping.Count - 1;
                }
            }
        }

        return false;
    }

    /// <summary>One connection's rights: the rules that apply to it, split by action, in order.</summary>
    private sealed class PrincipalAcl(IotPrincipal principal, CompiledAclRule[] publishRules, CompiledAclRule[] subscribeRules) : IPrincipalAcl
    {
        public bool CanPublish(string topic) => IsTopicName(topic) && EvaluatePublish(publishRules, principal, topic, filtered: true);

        public bool CanSubscribe(string filter) => CanSubscribe(filter, out _);

        public bool CanSubscribe(string filter, out DeliveryCheck? deliveryCheck)
        {
            deliveryCheck = null;
            return TopicNames.IsValidTopicFilter(filter) && EvaluateSubscribe(subscribeRules, principal, filter, filtered: true, out deliveryCheck);
        }
    }
}
