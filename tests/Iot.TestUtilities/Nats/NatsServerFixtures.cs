using Xunit;

namespace Iot.TestUtilities.Nats;

/// <summary>
/// nats-server processes with JetStream for one test class (an xunit class fixture): started before the first test,
/// killed after the last. Each test uses its own bucket or stream names, so the tests of a class share the servers.
/// </summary>
public abstract class NatsServersFixture(int servers) : IAsyncLifetime
{
    private NatsClusterFixture? _nats;

    /// <summary>The running servers.</summary>
    public NatsClusterFixture Nats => _nats ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _nats = await NatsClusterFixture.StartAsync(servers);

    public async Task DisposeAsync()
    {
        if (_nats is not null)
        {
            await _nats.DisposeAsync();
        }
    }
}

/// <summary>One nats-server for a test class: the contract tests, where replication does not matter.</summary>
public sealed class OneNatsServer() : NatsServersFixture(1);

/// <summary>
/// Three nats-servers as one JetStream cluster for a test class: what only replicated streams show (a clustered stream
/// checks some write conditions on the leader only, before the proposal).
/// </summary>
public sealed class ThreeNatsServers() : NatsServersFixture(3);
