namespace Iot.Broker.Security.AccessControl;

/// <summary>Topic access-control rules, bound from <c>Iot:Security:Acl</c>.</summary>
public sealed class AccessControlOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Security:Acl";

    /// <summary>The configured rules, evaluated in order before the built-in ones; the first match decides.</summary>
    /// <remarks>Default empty. Each rule is validated at start-up; an invalid one stops the broker naming its index.</remarks>
    public IList<AclRule> Rules { get; } = new List<AclRule>();

    /// <summary>Appends the built-in rules per role (<see cref="DefaultAclRules"/>) after <see cref="Rules"/>.</summary>
    /// <remarks>Default true. When false only <see cref="Rules"/> apply and everything else is denied.</remarks>
    public bool UseDefaultRules { get; set; } = true;
}
