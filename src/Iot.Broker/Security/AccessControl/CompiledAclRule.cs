namespace Iot.Broker.Security.AccessControl;

/// <summary>A validated <see cref="AclRule"/> with its parsed pattern.</summary>
internal sealed class CompiledAclRule
{
    public CompiledAclRule(AclRule rule, string source)
    {
        if (AccessControlOptionsValidator.ValidateRule(rule) is { } failure)
        {
            throw new ArgumentException($"{source}: {failure}", nameof(rule));
        }

        Allow = rule.Permission == AclDecision.Allow;
        Publish = rule.Action is AclAction.All or AclAction.Publish;
        Subscribe = rule.Action is AclAction.All or AclAction.Subscribe;
        Role = rule.Role!.Value;
        Identity = rule.Identity;
        if (!AclPattern.TryParse(rule.Topic, out var pattern, out var error))
        {
            throw new ArgumentException($"{source}: Topic {error}", nameof(rule));
        }

        Pattern = pattern;
        Source = source;
    }

    public bool Allow { get; }

    public bool Publish { get; }

    public bool Subscribe { get; }

    public AclRole Role { get; }

    public string? Identity { get; }

    public AclPattern Pattern { get; }

    /// <summary>Where the rule comes from (its configuration key, or "default"), for diagnostics.</summary>
    public string Source { get; }

    /// <summary>Whether the rule applies to this principal: its identity (when the rule names one) and safe placeholder values.</summary>
    public bool AppliesTo(IotPrincipal principal) =>
        (Identity is null || string.Equals(Identity, principal.Username, StringComparison.Ordinal))
        && Pattern.IsApplicable(principal.ClientId, principal.Username);

    /// <inheritdoc />
    public override string ToString() =>
        $"{Source}: {(Allow ? "allow" : "deny")} {(Publish && Subscribe ? "all" : Publish ? "publish" : "subscribe")} {Role} {Identity} {Pattern}";
}
