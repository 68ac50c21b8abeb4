using Iot.Messaging.Leases;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Iot.Broker.Cluster.Leases;

/// <summary>Replaces the single-process <see cref="LocalSingletonLeases"/> by the cluster's leases on <c>iot-leases</c> (cluster mode only).</summary>
internal static class LeasesServiceCollectionExtensions
{
    public static IServiceCollection AddClusterLeases(this IServiceCollection services)
    {
        services.AddSingleton<LeaseMetrics>();
        services.AddSingleton(sp =>
        {
            var cluster = sp.GetRequiredService<ClusterConnection>();
            return new KeyValueSingletonLeases(cluster.KeyValue, cluster.NodeId, cluster.Options.Replicas, LeaseSchedule.From(cluster.Options),
                cluster.Options.RequestTimeout, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<LeaseMetrics>(),
                sp.GetRequiredService<ILoggerFactory>().CreateLogger<KeyValueSingletonLeases>());
        });
        services.RemoveAll<ISingletonLeases>();
        services.AddSingleton<ISingletonLeases>(sp => sp.GetRequiredService<KeyValueSingletonLeases>());
        return services;
    }
}
