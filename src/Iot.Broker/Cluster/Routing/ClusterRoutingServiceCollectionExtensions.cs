using Iot.Routing.Hosting;

namespace Iot.Broker.Cluster.Routing;

/// <summary>Registers routes and event subscriptions on JetStream (docs/cluster.md, "Event subscriptions and routes").</summary>
internal static class ClusterRoutingServiceCollectionExtensions
{
    /// <summary>
    /// Routes, event subscriptions and their deliveries go to the cluster's key-value buckets instead of
    /// <c>routing.db</c> (registered before <c>AddIotRouting</c>, which only adds the SQLite store when none is), and
    /// every node follows the definitions any node stores.
    /// </summary>
    public static IServiceCollection AddClusterRouting(this IServiceCollection services) =>
        services.AddIotRoutingOnJetStream(sp =>
        {
            var connection = sp.GetRequiredService<ClusterConnection>();
            return new RoutingJetStreamSettings(connection.JetStream, connection.KeyValue, connection.Options.Replicas);
        });
}
