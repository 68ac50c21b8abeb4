namespace Iot.Broker.Security.AccessControl;

/// <summary>
/// What a granted subscription whose filter overlaps a deny rule checks for each message at delivery, as Mosquitto
/// checks its read ACL: a subscription to <c>#</c> under a deny rule for <c>secret/#</c> is granted, and the messages
/// on <c>secret/...</c> are not delivered through it.
/// </summary>
/// <remarks>
/// <para>It holds the subscribe rules that share a topic with the filter and come before the rule that granted it, in
/// evaluation order, up to the last deny rule among them. For a message's topic the first of them whose pattern
/// matches decides; when none matches, the granting rule (which covers every topic of the filter) lets it through.
/// This is the rule evaluation of the topic itself, so a message is delivered exactly when its owner could subscribe to
/// its topic name.</para>
/// <para>A subscription that overlaps no deny rule carries no check (null), so that its deliveries cost one null test.
/// A check walks its few rules comparing topic levels as spans: it never allocates. Immutable and thread-safe.</para>
/// </remarks>
internal sealed class DeliveryCheck
{
    private readonly CompiledAclRule[]? _rules;
    private readonly string _clientId;
    private readonly string? _username;

    /// <param name="rules">The rules to evaluate in order, ending with a deny rule.</param>
    /// <param name="principal">Whose placeholders (<c>{clientid}</c>, <c>{username}</c>) the rules are evaluated with.</param>
    internal DeliveryCheck(CompiledAclRule[] rules, IotPrincipal principal)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(principal);
        _rules = rules;
        _clientId = principal.ClientId;
        _username = principal.Username;
    }

    private DeliveryCheck()
    {
        _clientId = string.Empty;
    }

    /// <summary>
    /// Lets nothing through: set on a subscription its owner's rules no longer grant, for the moment until the
    /// subscription is removed.
    /// </summary>
    public static DeliveryCheck Nothing { get; } = new();

    /// <summary>The patterns of the rules evaluated, in order, for diagnostics.</summary>
    public IEnumerable<string> Patterns => (_rules ?? []).Select(r => (r.Allow ? "allow " : "deny ") + r.Pattern.Text);

    /// <summary>Whether a message on the topic name <paramref name="topic"/> may be delivered.</summary>
    public bool Allows(string topic)
    {
        if (_rules is not { } rules)
        {
            return false;
        }

        foreach (var rule in rules)
        {
            if (rule.Pattern.MatchesTopic(topic, _clientId, _username))
            {
                return rule.Allow;
            }
        }

        return true;
    }

    /// <inheritdoc />
    public override string ToString() => _rules is null ? "nothing" : string.Join(", ", Patterns);
}
