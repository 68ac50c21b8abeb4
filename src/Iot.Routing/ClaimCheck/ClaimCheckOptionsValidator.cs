using Iot.Messaging.Topics;
using Microsoft.Extensions.Options;

namespace Iot.Routing.ClaimCheck;

/// <summary>Checks <see cref="ClaimCheckOptions"/> at start-up; each failure names the setting.</summary>
/// <param name="clusterConfigured">Whether <c>Iot:Cluster:Nats:Url</c> is set: the local store is then refused.</param>
internal sealed class ClaimCheckOptionsValidator(bool clusterConfigured) : IValidateOptions<ClaimCheckOptions>
{
    public ValidateOptionsResult Validate(string? name, ClaimCheckOptions options)
    {
        if (!options.Enabled)
        {
            return ValidateOptionsResult.Success;
        }

        var failures = new List<string>();
        if (options.ThresholdBytes is < 1024 or > 256 * 1024 * 1024)
        {
            failures.Add("Iot:ClaimCheck:ThresholdBytes must be between 1024 and 268435456.");
        }

        if (options.MaxPayloadBytes < options.ThresholdBytes || options.MaxPayloadBytes > 1024L * 1024 * 1024)
        {
            failures.Add("Iot:ClaimCheck:MaxPayloadBytes must be between Iot:ClaimCheck:ThresholdBytes and 1073741824.");
        }

        if (options.Topics.Count > 100)
        {
            failures.Add("Iot:ClaimCheck:Topics must have at most 100 filters.");
        }

        for (var i = 0; i < options.Topics.Count; i++)
        {
            if (!TopicNames.IsValidTopicFilter(options.Topics[i]) || TopicNames.IsSharedSubscription(options.Topics[i]))
            {
                failures.Add($"Iot:ClaimCheck:Topics:{i} '{options.Topics[i]}' must be an MQTT topic filter (no $share).");
            }
        }

        if (options.Topics.Count == 0 && !options.QueueSends)
        {
            failures.Add("Iot:ClaimCheck:Enabled is true but there is nothing to claim-check: set Iot:ClaimCheck:Topics or Iot:ClaimCheck:QueueSends.");
        }

        if (options.Store == ClaimCheckStoreKind.Local && clusterConfigured)
        {
            failures.Add("Iot:ClaimCheck:Store is Local, a directory of one node, but Iot:Cluster:Nats:Url makes this node part of a cluster: "
                + "other nodes could not read its blobs. Set Iot:ClaimCheck:Store to AzureBlob (docs/configuration.md, \"Claim check\").");
        }

        if (options.Store == ClaimCheckStoreKind.AzureBlob)
        {
            if (string.IsNullOrWhiteSpace(options.AzureConnectionString))
            {
                failures.Add("Iot:ClaimCheck:AzureConnectionString must be set when Iot:ClaimCheck:Store is AzureBlob.");
            }

            if (!IsContainerName(options.AzureContainer))
            {
                failures.Add("Iot:ClaimCheck:AzureContainer must be 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit.");
            }
        }

        Check(failures, "UrlLifetime", options.UrlLifetime, TimeSpan.FromSeconds(1), TimeSpan.FromDays(7), "00:00:01", "7.00:00:00");
        Check(failures, "Retention", options.Retention, TimeSpan.FromSeconds(1), TimeSpan.FromDays(3650), "00:00:01", "3650.00:00:00");
        Check(failures, "OrphanGracePeriod", options.OrphanGracePeriod, TimeSpan.FromSeconds(1), options.Retention, "00:00:01", "Iot:ClaimCheck:Retention");
        Check(failures, "SweepInterval", options.SweepInterval, TimeSpan.FromMilliseconds(100), TimeSpan.FromDays(1), "00:00:00.1", "1.00:00:00");
        if (options.PublicBaseUrl is { } url && (!url.IsAbsoluteUri || url.Scheme is not ("http" or "https")))
        {
            failures.Add("Iot:ClaimCheck:PublicBaseUrl must be an absolute http or https URL.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void Check(List<string> failures, string setting, TimeSpan value, TimeSpan min, TimeSpan max, string minText, string maxText)
    {
        if (value < min || value > max)
        {
            failures.Add($"Iot:ClaimCheck:{setting} must be between {minText} and {maxText}.");
        }
    }

    private static bool IsContainerName(string? name) =>
        name is { Length: >= 3 and <= 63 }
        && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
        && name[0] != '-' && name[^1] != '-' && !name.Contains("--", StringComparison.Ordinal);
}
