using Iot.Streams.Log;
using Iot.Streams.Log.JetStream;
using Iot.TestUtilities.Nats;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Streams.Tests.Log.JetStream;

/// <summary>One real nats-server for a test class (the contract runs on one server: fast).</summary>
public sealed class SingleNatsServer : IAsyncLifetime
{
    public NatsClusterFixture Nats { get; private set; } = null!;

    public async Task InitializeAsync() => Nats = await NatsClusterFixture.StartAsync(servers: 1);

    public Task DisposeAsync() => Nats.DisposeAsync();
}

/// <summary>
/// A broker node's streams side for tests: its own NATS connection and <see cref="JetStreamStreamStore"/> over the
/// buckets and stream names of one <see cref="Scope"/>, so tests of one class do not see each other.
/// </summary>
internal sealed class JetStreamTestNode : IAsyncDisposable
{
    private JetStreamTestNode(NatsConnection connection, JetStreamStreamStore store)
    {
        Connection = connection;
        Store = store;
    }

    public NatsConnection Connection { get; }

    public JetStreamStreamStore Store { get; }

    /// <summary>Names unique to one test: stream prefix, subject prefix and buckets.</summary>
    public static JetStreamLogOptions Scope(int replicas, TimeSpan? requestTimeout = null)
    {
        var id = Guid.NewGuid().ToString("N")[..8];
        return new JetStreamLogOptions
        {
            Replicas = replicas,
            RequestTimeout = requestTimeout ?? TimeSpan.FromSeconds(5),
            StreamPrefix = $"T{id}_",
            SubjectPrefix = $"t{id}",
            DefinitionsBucket = $"s-{id}",
            GroupsBucket = $"g-{id}",
        };
    }

    public static async Task<JetStreamTestNode> StartAsync(NatsClusterFixture nats, JetStreamLogOptions options,
        IEnumerable<StreamDefinition>? configured = null, int? server = null)
    {
        var connection = nats.CreateConnection(server);
        await connection.ConnectAsync();
        var js = new NatsJSContext(connection);
        var store = new JetStreamStreamStore(js, new NatsKVContext(js), options, configured ?? [], NullLogger.Instance);
        try
        {
            await store.StartAsync(CancellationToken.None);
        }
        catch
        {
            await store.DisposeAsync();
            await connection.DisposeAsync();
            throw;
        }

        return new JetStreamTestNode(connection, store);
    }

    public async ValueTask DisposeAsync()
    {
        await Store.DisposeAsync();
        await Connection.DisposeAsync();
    }
}
