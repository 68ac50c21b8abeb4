using Microsoft.Extensions.Options;

namespace Iot.Broker.Security.Identities;

/// <summary>Checks <see cref="IdentityRegistryOptions"/> at start-up; each failure names its setting.</summary>
internal sealed class IdentityRegistryOptionsValidator : IValidateOptions<IdentityRegistryOptions>
{
    public ValidateOptionsResult Validate(string? name, IdentityRegistryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.PasswordIterations is < IdentityRegistryOptions.MinPasswordIterations or > IdentityRegistryOptions.MaxPasswordIterations)
        {
            failures.Add($"Iot:Security:PasswordIterations is {options.PasswordIterations}; it must be between " +
                $"{IdentityRegistryOptions.MinPasswordIterations} and {IdentityRegistryOptions.MaxPasswordIterations}.");
        }

        var ids = new HashSet<string>(StringComparer.Ordinal);
        var apiKeys = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Identities.Count; i++)
        {
            var identity = options.Identities[i];
            var setting = $"Iot:Security:Identities:{i}";
            if (IdentityIds.Validate(identity.Id) is { } error)
            {
                failures.Add($"{setting}:Id is not valid: {error}");
            }
            else if (!ids.Add(identity.Id!))
            {
                failures.Add($"{setting}:Id '{identity.Id}' is configured twice.");
            }

            if (!Enum.IsDefined(identity.Role))
            {
                failures.Add($"{setting}:Role must be Device, Service or Dashboard.");
            }

            if (identity.Password is { Length: 0 })
            {
                failures.Add($"{setting}:Password is empty; set a password or remove the setting.");
            }
            else if (identity.Password is { } password && !SecretHasher.IsText(System.Text.Encoding.UTF8.GetBytes(password)))
            {
                // MQTT clients could never present it: such passwords never match (SecretHasher.VerifyPassword).
                failures.Add($"{setting}:Password contains a control character; use printable text.");
            }

            if (identity.ApiKey is { } apiKey)
            {
                // The key is never echoed: only the setting and the rule.
                if (apiKey.Length < IdentityRegistryOptions.MinApiKeyLength)
                {
                    failures.Add($"{setting}:ApiKey is shorter than {IdentityRegistryOptions.MinApiKeyLength} characters; use a long random key.");
                }
                else if (!apiKeys.Add(apiKey))
                {
                    failures.Add($"{setting}:ApiKey is the same as another configured identity's key.");
                }
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
