using Microsoft.Extensions.Options;

namespace Iot.Broker.Cluster;

/// <summary>Fails start-up when the cluster timings cannot work together, naming the settings.</summary>
internal sealed class ClusterOptionsValidator : IValidateOptions<ClusterOptions>
{
    public ValidateOptionsResult Validate(string? name, ClusterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.NodeTimeout <= 2 * options.HeartbeatInterval)
        {
            // One late or lost heartbeat must not make a live node dead (and its wills published by another node).
            return ValidateOptionsResult.Fail(
                $"{ClusterOptions.SectionName}:NodeTimeout ({options.NodeTimeout}) must be more than twice {ClusterOptions.SectionName}:HeartbeatInterval ({options.HeartbeatInterval}).");
        }

        if (options.LeaseSafetyMargin * 2 > options.LeaseDuration)
        {
            // The holder gives up at LeaseDuration - margin and renews every LeaseDuration / 3: at least one retry must fit.
            return ValidateOptionsResult.Fail(
                $"{ClusterOptions.SectionName}:LeaseSafetyMargin ({options.LeaseSafetyMargin}) must be at most half of {ClusterOptions.SectionName}:LeaseDuration ({options.LeaseDuration}).");
        }

        return ValidateOptionsResult.Success;
    }
}
