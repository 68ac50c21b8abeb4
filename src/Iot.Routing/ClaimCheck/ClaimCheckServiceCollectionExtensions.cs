using Azure.Storage.Blobs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Iot.Routing.ClaimCheck;

/// <summary>Registers the claim check (<c>Iot:ClaimCheck</c>); nothing runs unless <c>Iot:ClaimCheck:Enabled</c> is true.</summary>
public static class ClaimCheckServiceCollectionExtensions
{
    /// <summary>
    /// Adds the options (validated at start), the store the options name, the service the MQTT bridge and the queue API
    /// use, and the sweeper (only when enabled).
    /// </summary>
    public static IServiceCollection AddIotClaimCheck(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<ClaimCheckOptions>()
            .Bind(configuration.GetSection(ClaimCheckOptions.SectionName))
            .Configure(options =>
            {
                if (string.IsNullOrWhiteSpace(options.Directory))
                {
                    var dataDir = configuration["Iot:DataDir"] is { Length: > 0 } d ? d : "./data";
                    options.Directory = Path.Combine(dataDir, "claimcheck");
                }
            })
            .ValidateOnStart();
        var clusterConfigured = !string.IsNullOrWhiteSpace(configuration["Iot:Cluster:Nats:Url"]);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ClaimCheckOptions>>(new ClaimCheckOptionsValidator(clusterConfigured)));
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ClaimCheckMetrics>();
        services.TryAddSingleton<ClaimCheckUrlSigner>();
        services.TryAddSingleton<IClaimCheckStore>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<ClaimCheckOptions>>().Value;
            var time = sp.GetRequiredService<TimeProvider>();
            return options.Store == ClaimCheckStoreKind.AzureBlob
                ? new AzureBlobClaimCheckStore(new BlobContainerClient(options.AzureConnectionString, options.AzureContainer), time)
                : new LocalDirectoryClaimCheckStore(options.Directory!, time);
        });
        services.TryAddSingleton<ClaimCheckService>();
        if (configuration.GetValue<bool>($"{ClaimCheckOptions.SectionName}:Enabled"))
        {
            services.AddHostedService<ClaimCheckSweeper>();
        }

        return services;
    }
}
