namespace Iot.Broker.Cluster.Nodes;

/// <summary>Registers the node registry (<see cref="IClusterMembership"/>) and the NATS cut-off (cluster mode only).</summary>
internal static class NodesServiceCollectionExtensions
{
    public static IServiceCollection AddClusterNodes(this IServiceCollection services)
    {
        services.AddSingleton<ClusterMetrics>();
        services.AddSingleton<NodeRegistry>();
        services.AddSingleton<IClusterMembership>(sp => sp.GetRequiredService<NodeRegistry>());
        services.AddHostedService(sp => sp.GetRequiredService<NodeRegistry>());
        services.AddHostedService<NatsCutOffService>();
        return services;
    }
}
