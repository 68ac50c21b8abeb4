using Microsoft.Extensions.Options;

namespace Iot.Routing.Hosting;

/// <summary>Checks <see cref="RoutingOptions"/> at start-up; each failure names the setting.</summary>
internal sealed class RoutingOptionsValidator : IValidateOptions<RoutingOptions>
{
    public ValidateOptionsResult Validate(string? name, RoutingOptions options)
    {
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.DataDir))
        {
            failures.Add("Iot:Routing:DataDir (or Iot:DataDir) must be a directory path.");
        }

        if (options.RetrySchedule is { } schedule
            && (schedule.Count > 100 || schedule.Any(d => d < TimeSpan.FromMilliseconds(1) || d > TimeSpan.FromDays(1))))
        {
            failures.Add("Iot:Routing:RetrySchedule must have at most 100 entries, each between 00:00:00.001 and 1.00:00:00.");
        }

        if (options.MaxConcurrentDeliveries is < 1 or > 1024)
        {
            failures.Add("Iot:Routing:MaxConcurrentDeliveries must be between 1 and 1024.");
        }

        if (options.WebhookTimeout < TimeSpan.FromMilliseconds(100) || options.WebhookTimeout > TimeSpan.FromMinutes(5))
        {
            failures.Add("Iot:Routing:WebhookTimeout must be between 00:00:00.1 and 00:05:00.");
        }

        if (string.IsNullOrWhiteSpace(options.WebhookOrigin))
        {
            failures.Add("Iot:Routing:WebhookOrigin must not be empty.");
        }

        if (options.MaxEventPostBytes is < 1024 or > 64 * 1024 * 1024)
        {
            failures.Add("Iot:Routing:MaxEventPostBytes must be between 1024 and 67108864.");
        }

        if (options.MaxPendingStoreOperations is < 16 or > 1_000_000)
        {
            failures.Add("Iot:Routing:MaxPendingStoreOperations must be between 16 and 1000000.");
        }

        if (options.WebhookAllowedNetworks is { } networks)
        {
            if (networks.Count > 100)
            {
                failures.Add("Iot:Routing:WebhookAllowedNetworks must have at most 100 entries.");
            }

            for (int i = 0; i < networks.Count; i++)
            {
                if (!Subscriptions.WebhookAddressPolicy.TryParseNetwork(networks[i], out _))
                {
                    failures.Add($"Iot:Routing:WebhookAllowedNetworks:{i} '{networks[i]}' must be a CIDR (10.20.0.0/16) or an IP address.");
                }
            }
        }

        if (options.MaxPendingEventsPerSubscription is < 1 or > 100_000_000)
        {
            failures.Add("Iot:Routing:MaxPendingEventsPerSubscription must be between 1 and 100000000.");
        }

        if (options.MaxPendingBytesPerSubscription is < 1024 * 1024 or > 1024L * 1024 * 1024 * 1024)
        {
            failures.Add("Iot:Routing:MaxPendingBytesPerSubscription must be between 1048576 and 1099511627776.");
        }

        if (options.MaxDeadLetteredEventsPerSubscription is < 1 or > 100_000_000)
        {
            failures.Add("Iot:Routing:MaxDeadLetteredEventsPerSubscription must be between 1 and 100000000.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
