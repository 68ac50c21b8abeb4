using Iot.Streams.Log;
using Iot.Streams.Log.JetStream;

namespace Iot.Streams.Tests.Log.JetStream;

/// <summary>The consumer group contract on the JetStream key-value bucket of a real nats-server; "reopen" is a second node.</summary>
[Trait("Category", "Integration")]
public sealed class JetStreamConsumerGroupStoreTests(SingleNatsServer server) : ConsumerGroupStoreContractTests, IClassFixture<SingleNatsServer>, IAsyncLifetime
{
    private readonly List<JetStreamTestNode> _nodes = [];
    private JetStreamLogOptions? _scope;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            await node.DisposeAsync();
        }
    }

    protected override Task<IConsumerGroupStore> CreateStoreAsync()
    {
        _scope = JetStreamTestNode.Scope(replicas: 1);
        return OpenAsync(_scope);
    }

    protected override Task<IConsumerGroupStore> ReopenStoreAsync() => OpenAsync(_scope!);

    private async Task<IConsumerGroupStore> OpenAsync(JetStreamLogOptions scope)
    {
        var node = await JetStreamTestNode.StartAsync(server.Nats, scope, [new StreamDefinition { Name = "s.1", Partitions = 4 }]);
        _nodes.Add(node);
        return node.Store.GetGroups("s.1");
    }
}
