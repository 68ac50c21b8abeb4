using Iot.TestUtilities;
using Iot.TestUtilities.Nats;

namespace Iot.Broker.IntegrationTests.Cluster.Sessions;

/// <summary>
/// The session tests' cluster: a <see cref="NatsClusterFixture"/> (nats-server processes with JetStream on free loopback
/// ports) and <see cref="ClusterBrokers"/> (broker child processes in cluster mode on it). Kills and cleans up every
/// process on dispose, also when a test fails.
/// </summary>
internal sealed class SessionsClusterHarness : IAsyncDisposable
{
    private readonly NatsClusterFixture _nats;
    private ClusterBrokers? _brokers;

    private SessionsClusterHarness(NatsClusterFixture nats)
    {
        _nats = nats;
    }

    public static async Task<SessionsClusterHarness> StartAsync(int servers = 3) =>
        new(await NatsClusterFixture.StartAsync(servers));

    /// <summary>Starts <paramref name="count"/> broker nodes with the same extra arguments.</summary>
    public async Task<BrokerProcess[]> StartBrokersAsync(int count, params string[] extraArgs)
    {
        _brokers = await ClusterBrokers.StartAsync(_nats, count, extraArgs);
        return [.. Enumerable.Range(0, count).Select(i => _brokers[i])];
    }

    /// <summary><c>kill -9</c> of broker node <paramref name="i"/>.</summary>
    public Task KillBrokerAsync(int i) => _brokers!.KillAsync(i);

    /// <summary><c>kill -9</c> of the NATS server that leads <paramref name="stream"/>; returns its name.</summary>
    public async Task<string> KillStreamLeaderAsync(string stream)
    {
        var leader = await _nats.StreamLeaderAsync(stream);
        await _nats.KillAsync(leader);
        return _nats.ServerName(leader);
    }

    /// <summary>The session record of <paramref name="clientId"/> in <c>iot-sessions</c>, read directly; null when there is none.</summary>
    public async Task<Iot.Broker.Cluster.Sessions.SessionRecord?> ReadRecordAsync(string clientId)
    {
        await using var connection = _nats.CreateConnection();
        var bucket = await new NATS.Client.KeyValueStore.NatsKVContext(new NATS.Client.JetStream.NatsJSContext(connection))
            .GetStoreAsync(Iot.Broker.Cluster.Sessions.SessionStreams.BucketName);
        var entry = await bucket.TryGetEntryAsync<byte[]>(Iot.Broker.Cluster.Sessions.SessionKey.Escape(clientId));
        return entry.Success && entry.Value.Value is { Length: > 0 } bytes ? Iot.Broker.Cluster.Sessions.SessionRecord.FromBytes(bytes) : null;
    }

    /// <summary>Everything the brokers and the NATS servers printed, for a failure message.</summary>
    public string Diagnostics() => _brokers?.Diagnostics() ?? _nats.Diagnostics();

    public async ValueTask DisposeAsync()
    {
        if (_brokers is not null)
        {
            await _brokers.DisposeAsync();
        }

        await _nats.DisposeAsync();
    }
}
