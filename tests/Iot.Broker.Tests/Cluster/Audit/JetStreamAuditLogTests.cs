using Iot.Broker.Cluster.Audit;
using Iot.Broker.Hosting.Audit;
using Iot.Broker.Tests.Hosting.Audit;
using NATS.Client.Core;
using NATS.Client.JetStream;

namespace Iot.Broker.Tests.Cluster.Audit;

/// <summary>The audit log on a JetStream stream of a real nats-server, and what only a cluster-wide log must do.</summary>
[Trait("Category", "Integration")]
public sealed class JetStreamAuditLogTests : AuditLogContractTests, IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);
    private readonly List<NatsConnection> _connections = [];
    private NatsServerScope? _nats;
    private string _stream = "";

    private NatsServerScope Nats => _nats ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _nats = await NatsServerScope.StartAsync();

    public async Task DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync();
        }

        if (_nats is not null)
        {
            await _nats.DisposeAsync();
        }
    }

    protected override IAuditLog Create()
    {
        _stream = "IOT_AUDIT_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        return Open(new NatsJSContext(Nats.Connection));
    }

    protected override IAuditLog Reopen()
    {
        var connection = new NatsConnection(NatsOpts.Default with { Url = Nats.Url });
        _connections.Add(connection);
        return Open(new NatsJSContext(connection));
    }

    [Fact]
    public async Task TwoNodes_EachReadsTheOthersEntries_InOneSequence()
    {
        var nodeA = Create();
        var nodeB = Reopen();
        await nodeA.AppendAsync(Entry(T0, "svc-a", "node-a", "n=1"));
        await nodeB.AppendAsync(Entry(T0.AddSeconds(1), "svc-b", "node-b", "n=2"));
        await nodeA.AppendAsync(Entry(T0.AddSeconds(2), "svc-a", "node-a", "n=3"));

        Assert.Equal(["n=3", "n=2", "n=1"], (await nodeB.QueryAsync(new AuditQuery())).Select(e => e.Target));
        Assert.Equal(["node-a", "node-b", "node-a"], (await nodeA.QueryAsync(new AuditQuery())).Select(e => e.Node));
        Assert.Equal("n=2", Assert.Single(await nodeA.QueryAsync(new AuditQuery(Actor: "svc-b"))).Target);
    }

    [Fact]
    public async Task Query_PagesAcrossReadBatches_AndStopsAtSince()
    {
        var log = Create();
        var count = JetStreamAuditLog.ReadBatch + 44;
        for (int i = 0; i < count; i++)
        {
            await log.AppendAsync(Entry(T0.AddMinutes(i), i % 3 == 0 ? "third" : "other", "node-a", $"n={i}"));
        }

        var thirds = await log.QueryAsync(new AuditQuery(Actor: "third", Limit: 1000));
        Assert.Equal(Enumerable.Range(0, count).Where(i => i % 3 == 0).Reverse().Select(i => $"n={i}"), thirds.Select(e => e.Target));

        var page1 = await log.QueryAsync(new AuditQuery(Limit: 50));
        var page2 = await log.QueryAsync(new AuditQuery(Limit: 50, BeforeSequence: page1[^1].Sequence));
        Assert.Equal($"n={count - 51}", page2[0].Target);
        Assert.Equal(50, page2.Count);

        var recent = await log.QueryAsync(new AuditQuery(Since: T0.AddMinutes(count - 10), Limit: 1000));
        Assert.Equal(10, recent.Count);
    }

    private static AuditEntry Entry(DateTimeOffset time, string actor, string node, string target) =>
        new(0, time, actor, "service", "POST /api/routes", target, 201, "127.0.0.1", node);

    private JetStreamAuditLog Open(INatsJSContext jetStream) =>
        new(jetStream, new AuditOptions(), replicas: 1, TimeSpan.FromSeconds(10), _stream);
}
