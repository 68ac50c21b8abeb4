namespace Iot.Broker.IntegrationTests.Cluster;

/// <summary>
/// Cluster-mode tests: each starts its own NATS servers (Iot.TestUtilities.Nats.NatsClusterFixture) and broker child
/// processes (ClusterBrokers). They run one at a time, never beside each other: a machine with two cores cannot hold
/// several clusters at once, and kill -9 timings must not depend on another test's load.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClusterCollectionDefinition
{
    public const string Name = "Cluster";
}
