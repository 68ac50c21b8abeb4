using System.Net.Http.Json;
using System.Text.Json;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.Cluster;

/// <summary>Issue 20, the audit log in cluster mode: one trail for the cluster, read on any node.</summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterAuditTests(TwoNodeCluster cluster) : IClassFixture<TwoNodeCluster>
{
    [Fact]
    public async Task AChangeOnOneNode_IsInTheAuditLogReadOnTheOther_WithTheNodeThatServedIt()
    {
        var queue = "audit-" + Guid.NewGuid().ToString("N")[..8];
        using var http0 = new HttpClient { BaseAddress = cluster.Brokers.HttpBaseAddress(0), Timeout = TimeSpan.FromSeconds(30) };
        using var http1 = new HttpClient { BaseAddress = cluster.Brokers.HttpBaseAddress(1), Timeout = TimeSpan.FromSeconds(30) };
        using (var created = await http0.PutAsJsonAsync(new Uri($"api/queues/{queue}", UriKind.Relative), new { }))
        {
            Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        }

        // The entry was acknowledged by JetStream before the answer: no waiting needed on the other node.
        var audit = await http1.GetFromJsonAsync<JsonElement>(new Uri("api/audit?action=/api/queues", UriKind.Relative));
        var entry = audit.GetProperty("value").EnumerateArray().Single(e => e.GetProperty("target").GetString() == $"name={queue}");
        Assert.Equal("PUT /api/queues/{name}", entry.GetProperty("action").GetString());
        Assert.Equal(Iot.TestUtilities.Nats.ClusterBrokers.NodeId(0), entry.GetProperty("node").GetString());
    }
}
