namespace Iot.Broker.Security.AccessControl;

/// <summary>Whether a matching <see cref="AclRule"/> grants or refuses.</summary>
public enum AclDecision
{
    /// <summary>The action is allowed.</summary>
    Allow,

    /// <summary>The action is refused.</summary>
    Deny,
}

/// <summary>The MQTT action an <see cref="AclRule"/> is about.</summary>
public enum AclAction
{
    /// <summary>Both publish and subscribe.</summary>
    All,

    /// <summary>PUBLISH to a topic name.</summary>
    Publish,

    /// <summary>SUBSCRIBE to a topic filter.</summary>
    Subscribe,
}

/// <summary>Who an <see cref="AclRule"/> applies to.</summary>
public enum AclRole
{
    /// <summary>Every principal, anonymous ones included.</summary>
    Any,

    /// <summary>Identities with <see cref="IdentityRole.Device"/>.</summary>
    Device,

    /// <summary>Identities with <see cref="IdentityRole.Service"/>.</summary>
    Service,

    /// <summary>Identities with <see cref="IdentityRole.Dashboard"/>.</summary>
    Dashboard,

    /// <summary>Clients without credentials (only ever connected when <c>Iot:Security:AllowAnonymous</c> is true).</summary>
    Anonymous,
}

/// <summary>
/// One access-control entry, bound from <c>Iot:Security:Acl:Rules:{index}</c>. Rules are evaluated in order and the
/// first one that matches decides; when none matches, the action is denied.
/// </summary>
public sealed class AclRule
{
    /// <summary>Allow or deny.</summary>
    /// <remarks>Required (no default, so that a forgotten key cannot grant anything): <c>allow</c> or <c>deny</c>.</remarks>
    public AclDecision? Permission { get; set; }

    /// <summary>The action the rule is about.</summary>
    /// <remarks>Required: <c>publish</c>, <c>subscribe</c> or <c>all</c>.</remarks>
    public AclAction? Action { get; set; }

    /// <summary>The role the rule applies to.</summary>
    /// <remarks>Required: <c>device</c>, <c>service</c>, <c>dashboard</c>, <c>anonymous</c> or <c>any</c>.</remarks>
    public AclRole? Role { get; set; }

    /// <summary>When set, the rule applies only to the identity with this id (the MQTT username), compared ordinally.</summary>
    /// <remarks>Default none (every identity of <see cref="Role"/>). Never matches an anonymous client.</remarks>
    public string? Identity { get; set; }

    /// <summary>
    /// The topic pattern: a topic filter with <c>+</c> and <c>#</c> wildcards, in which <c>{clientid}</c> and
    /// <c>{username}</c> are replaced by the principal's client id and identity id.
    /// </summary>
    /// <remarks>
    /// Required. A placeholder may form a whole level or part of one (<c>devices/{clientid}-raw</c>). A rule whose
    /// placeholder value is missing, empty, contains <c>/</c>, <c>+</c>, <c>#</c> or U+0000, or starts with <c>$</c>
    /// at the very start of the pattern, matches nothing for that principal: a client id can never widen a rule.
    /// </remarks>
    public string? Topic { get; set; }

    /// <inheritdoc />
    public override string ToString() =>
        $"{Permission?.ToString() ?? "?"} {Action?.ToString() ?? "?"} {Role?.ToString() ?? "?"}{(Identity is null ? string.Empty : "(" + Identity + ")")} {Topic}";
}
