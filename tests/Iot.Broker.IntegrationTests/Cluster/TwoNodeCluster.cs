using Iot.TestUtilities.Nats;

namespace Iot.Broker.IntegrationTests.Cluster;

/// <summary>
/// A class fixture: three nats-server processes (JetStream, R3) and broker child processes in cluster mode on them,
/// shared by the tests of one class (each test uses its own topics and client ids).
/// </summary>
/// <param name="nodes">How many broker nodes.</param>
/// <param name="brokerArgs">Extra arguments of every broker.</param>
public abstract class BrokersOnNatsFixture(int nodes, params string[] brokerArgs) : IAsyncLifetime
{
    private NatsClusterFixture? _nats;
    private ClusterBrokers? _brokers;

    public ClusterBrokers Brokers => _brokers ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        _nats = await NatsClusterFixture.StartAsync(servers: 3);
        _brokers = await ClusterBrokers.StartAsync(_nats, nodes, brokerArgs);
    }

    public async Task DisposeAsync()
    {
        if (_brokers is not null)
        {
            await _brokers.DisposeAsync();
        }

        if (_nats is not null)
        {
            await _nats.DisposeAsync();
        }
    }
}

/// <summary>Two broker nodes with anonymous clients, for tests that only publish and subscribe (no kills).</summary>
public sealed class TwoNodeCluster() : BrokersOnNatsFixture(2, "--Iot:Security:AllowAnonymous=true");
