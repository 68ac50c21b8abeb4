using Iot.Streams.Log;
using Iot.Streams.Log.JetStream;

namespace Iot.Streams.Tests.Log.JetStream;

/// <summary>The stream log contract on a JetStream stream of a real nats-server (one partition of a <see cref="JetStreamStreamStore"/>).</summary>
[Trait("Category", "Integration")]
public sealed class JetStreamLogTests(SingleNatsServer server) : StreamLogContractTests, IClassFixture<SingleNatsServer>, IAsyncLifetime
{
    private readonly List<JetStreamTestNode> _nodes = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
    }

    protected override async Task<IStreamLog> CreateLogAsync()
    {
        var node = await JetStreamTestNode.StartAsync(server.Nats, JetStreamTestNode.Scope(replicas: 1));
        _nodes.Add(node);
        await node.Store.TryCreateAsync(new StreamDefinition { Name = "s", Partitions = 1 });
        return node.Store.GetPartition("s", 0);
    }
}
