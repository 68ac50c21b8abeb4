using Iot.TestUtilities.Nats;

namespace Iot.Broker.IntegrationTests.Cluster;

/// <summary>
/// A class fixture: three nats-server processes (JetStream, R3) and two broker child processes in cluster mode with
/// anonymous clients, shared by the tests of one class that only publish and subscribe (no kills).
/// </summary>
public sealed class TwoNodeCluster : IAsyncLifetime
{
    private NatsClusterFixture? _nats;
    private ClusterBrokers? _brokers;

    public ClusterBrokers Brokers => _brokers ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        _nats = await NatsClusterFixture.StartAsync(servers: 3);
        _brokers = await ClusterBrokers.StartAsync(_nats, 2, "--Iot:Security:AllowAnonymous=true");
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
