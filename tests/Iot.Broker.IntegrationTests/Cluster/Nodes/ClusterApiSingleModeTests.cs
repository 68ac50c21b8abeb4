using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.Broker.IntegrationTests.Security;

namespace Iot.Broker.IntegrationTests.Cluster.Nodes;

/// <summary><c>GET /api/cluster</c> of a broker in single-process mode: the API key rules of <c>/api</c>, mode <c>single</c>, one node, no <c>iot_cluster_*</c> metrics.</summary>
[Collection(DeviceApiCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterApiSingleModeTests(DeviceApiFixture broker)
{
    [Theory]
    [InlineData(null, HttpStatusCode.Unauthorized)]
    [InlineData(DeviceApiFixture.DeviceKey, HttpStatusCode.Forbidden)]
    [InlineData(DeviceApiFixture.DashboardKey, HttpStatusCode.OK)]
    [InlineData(DeviceApiFixture.ServiceKey, HttpStatusCode.OK)]
    public async Task Cluster_ByKey_OnlyServiceAndDashboardRead(string? key, HttpStatusCode expected)
    {
        using var http = broker.CreateClient(key);

        using var response = await http.GetAsync(new Uri("/api/cluster", UriKind.Relative));

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task Cluster_SingleProcess_ModeSingleWithThisNodeAlone()
    {
        using var http = broker.CreateClient(DeviceApiFixture.DashboardKey);

        var cluster = await http.GetFromJsonAsync<JsonElement>(new Uri("/api/cluster", UriKind.Relative));

        Assert.Equal("single", cluster.GetProperty("mode").GetString());
        Assert.Equal(JsonValueKind.Null, cluster.GetProperty("nats").ValueKind);
        var node = Assert.Single(cluster.GetProperty("nodes").EnumerateArray().ToList());
        Assert.True(node.GetProperty("alive").GetBoolean());
        Assert.True(node.GetProperty("self").GetBoolean());
        Assert.Equal(cluster.GetProperty("nodeId").GetString(), node.GetProperty("nodeId").GetString());
        Assert.Equal(broker.HttpBaseUri.Port, node.GetProperty("httpPort").GetInt32());

        var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.DoesNotContain("iot_cluster_", metrics, StringComparison.Ordinal);
        Assert.Contains("iot_mqtt_limit_hits_total{limit=\"cluster_cut_off\"} 0", metrics, StringComparison.Ordinal);
    }
}
