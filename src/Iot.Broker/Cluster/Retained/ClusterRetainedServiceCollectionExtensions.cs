using Iot.Broker.Mqtt;

namespace Iot.Broker.Cluster.Retained;

/// <summary>Registers retained messages on JetStream (cluster mode only).</summary>
internal static class ClusterRetainedServiceCollectionExtensions
{
    /// <summary>
    /// Makes <see cref="RetainedMessages"/> write to, and be fed from, <see cref="RetainedStream"/> instead of the local
    /// session store; the feed starts (and loads the index) before the listeners.
    /// </summary>
    public static IServiceCollection AddClusterRetained(this IServiceCollection services)
    {
        services.AddSingleton<RetainedStream>();
        services.AddSingleton<IRetainedReplication>(sp => sp.GetRequiredService<RetainedStream>());
        services.AddHostedService<RetainedFeed>();
        return services;
    }
}
