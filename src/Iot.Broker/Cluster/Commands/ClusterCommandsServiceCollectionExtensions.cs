using Iot.Routing.Hosting;

namespace Iot.Broker.Cluster.Commands;

/// <summary>Registers cluster-wide device commands (docs/cluster.md, "Device commands (part 2)").</summary>
internal static class ClusterCommandsServiceCollectionExtensions
{
    /// <summary>
    /// Command records go to the key-value bucket <c>iot-commands</c> and command messages to the shared queue store
    /// (after <c>AddClusterQueues</c>, before <c>AddIotRouting</c>, which keeps them): a command sent through any node is
    /// delivered by the node its device is connected to, and its answer and record are seen on every node.
    /// </summary>
    public static IServiceCollection AddClusterCommands(this IServiceCollection services) =>
        services.AddJetStreamCommands(
            sp => sp.GetRequiredService<ClusterConnection>().KeyValue,
            sp => sp.GetRequiredService<ClusterConnection>().Options.Replicas);
}
