using Iot.Broker.Security.Identities;

namespace Iot.Broker.Cluster.Security;

/// <summary>Registers cluster-wide identities (docs/cluster.md, "Security").</summary>
internal static class ClusterSecurityServiceCollectionExtensions
{
    /// <summary>
    /// The identity registry's store becomes the shared bucket <see cref="KeyValueIdentityStore.BucketName"/> (registered
    /// before <c>AddIotSecurity</c>, which only adds <c>identities.db</c> when no store is registered), and every node
    /// follows it.
    /// </summary>
    public static IServiceCollection AddClusterSecurity(this IServiceCollection services)
    {
        services.AddSingleton(sp =>
        {
            var connection = sp.GetRequiredService<ClusterConnection>();
            return new KeyValueIdentityStore(connection.KeyValue, connection.Options.Replicas);
        });
        services.AddSingleton<IIdentityStore>(sp => sp.GetRequiredService<KeyValueIdentityStore>());
        services.AddHostedService(sp => new ClusterIdentitySync(
            sp.GetRequiredService<IdentityRegistry>(), sp.GetRequiredService<KeyValueIdentityStore>(),
            sp.GetService<TimeProvider>() ?? TimeProvider.System, sp.GetRequiredService<ILogger<ClusterIdentitySync>>()));
        return services;
    }
}
