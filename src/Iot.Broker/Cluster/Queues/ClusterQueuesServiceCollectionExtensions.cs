using Iot.Routing.Hosting;

namespace Iot.Broker.Cluster.Queues;

/// <summary>Registers cluster-wide queues (docs/cluster.md, "Queues (part 2)").</summary>
internal static class ClusterQueuesServiceCollectionExtensions
{
    /// <summary>
    /// The queue store becomes the JetStream one on this node's connection (registered before <c>AddIotRouting</c>,
    /// which adds <c>queues.db</c>'s store only when none is registered): a queue created, sent to or settled on any node
    /// is the same queue on every node.
    /// </summary>
    public static IServiceCollection AddClusterQueues(this IServiceCollection services) =>
        services.AddJetStreamQueues(
            sp => sp.GetRequiredService<ClusterConnection>().KeyValue,
            sp => sp.GetRequiredService<ClusterConnection>().Options.Replicas);
}
