using Iot.TestUtilities.Nats;

namespace Iot.Broker.IntegrationTests.Cluster.Live;

/// <summary>
/// Three NATS servers and three broker nodes in cluster mode, shared by the live-path tests of one class (each test uses
/// its own topics). Anonymous clients may also publish and subscribe under <c>$x/</c>, so that a <c>$</c> topic can be sent.
/// </summary>
public sealed class LiveClusterFixture : IAsyncLifetime
{
    private NatsClusterFixture? _nats;
    private ClusterBrokers? _brokers;

    public ClusterBrokers Brokers => _brokers ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        _nats = await NatsClusterFixture.StartAsync(servers: 3);
        _brokers = await ClusterBrokers.StartAsync(_nats, 3,
            "--Iot:Security:Acl:Rules:0:Permission=allow", "--Iot:Security:Acl:Rules:0:Action=all",
            "--Iot:Security:Acl:Rules:0:Role=anonymous", "--Iot:Security:Acl:Rules:0:Topic=$x/#");
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
