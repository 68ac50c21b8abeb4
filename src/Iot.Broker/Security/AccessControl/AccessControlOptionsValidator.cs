using Microsoft.Extensions.Options;

namespace Iot.Broker.Security.AccessControl;

/// <summary>Fails start-up on a rule that is incomplete or whose topic pattern is invalid, naming the rule's key.</summary>
internal sealed class AccessControlOptionsValidator : IValidateOptions<AccessControlOptions>
{
    public ValidateOptionsResult Validate(string? name, AccessControlOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        List<string>? failures = null;
        for (int i = 0; i < options.Rules.Count; i++)
        {
            if (ValidateRule(options.Rules[i]) is { } failure)
            {
                (failures ??= []).Add($"{AccessControlOptions.SectionName}:Rules:{i}: {failure} (rule: {options.Rules[i]})");
            }
        }

        return failures is null ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Why <paramref name="rule"/> is invalid, or null when it is valid.</summary>
    internal static string? ValidateRule(AclRule? rule)
    {
        if (rule is null)
        {
            return "the rule is empty.";
        }

        if (rule.Permission is not { } permission || !Enum.IsDefined(permission))
        {
            return "Permission is required: allow or deny.";
        }

        if (rule.Action is not { } action || !Enum.IsDefined(action))
        {
            return "Action is required: publish, subscribe or all.";
        }

        if (rule.Role is not { } role || !Enum.IsDefined(role))
        {
            return "Role is required: device, service, dashboard, anonymous or any.";
        }

        if (rule.Identity is { Length: 0 })
        {
            return "Identity, when set, must not be empty.";
        }

        return AclPattern.TryParse(rule.Topic, out _, out var error) ? null : "Topic " + error;
    }
}
