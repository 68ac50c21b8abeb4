namespace Iot.Cli.Tests;

/// <summary><c>iot metrics summary</c> (from <c>/metrics</c>) and <c>iot cluster status</c> in single-process mode.</summary>
[Collection(CliBrokerCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class MetricsAndClusterCliTests(CliBrokerFixture broker)
{
    [Fact]
    public async Task MetricsSummary_KeyFiguresAsTableAndJson()
    {
        var table = (await broker.IotAsync("metrics", "summary")).ExpectExit(0).TableRows();
        Assert.Equal(["SECTION", "FIGURE", "VALUE"], table[0]);
        Assert.Contains(table, r => r[0] == "MQTT" && r[1] == "connections" && long.TryParse(r[2], out _));
        Assert.Contains(table, r => r[0] == "Commands" && r[1] == "sent");
        Assert.Contains(table, r => r[0] == "Streams" && r[1] == "next offset (partition=0, stream=telemetry)");
        Assert.Contains(table, r => r[0] == "Process" && r[1] == "resident memory bytes" && long.Parse(r[2], System.Globalization.CultureInfo.InvariantCulture) > 0);
        Assert.DoesNotContain(table, r => r[0] == "Cluster");

        var json = (await broker.IotAsync("metrics", "summary", "--json")).ExpectExit(0).Json();
        Assert.True(json.GetProperty("iot_mqtt_connections").GetDouble() >= 0);
        Assert.True(json.TryGetProperty("iot_stream_next_offset{partition=\"0\",stream=\"telemetry\"}", out _), json.ToString());
    }

    [Fact]
    public async Task ClusterStatus_SingleMode_ThisNode()
    {
        var result = (await broker.IotAsync("cluster", "status")).ExpectExit(0);
        Assert.Equal("single", result.Property("Mode"));
        var nodes = result.TableRows().SkipWhile(r => r[0] != "NODE").ToList();
        Assert.Equal(2, nodes.Count);
        Assert.Equal(broker.HttpPort.ToString(System.Globalization.CultureInfo.InvariantCulture), nodes[1][5]);

        var json = (await broker.IotAsync("cluster", "status", "--json")).ExpectExit(0).Json();
        Assert.Equal("single", json.GetProperty("mode").GetString());
    }
}
