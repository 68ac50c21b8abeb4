using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Nodes;

/// <summary>
/// A broker cut off from NATS (issue 18: "a node cut off from NATS closes its clients rather than accepting what it
/// cannot store"): its only NATS server is killed, so after <c>Iot:Cluster:CutOffTimeout</c> its MQTT 5 client gets
/// DISCONNECT 0x9C, its MQTT 3.1.1 client is closed and new CONNECTs are refused with 0x88 / 0x03; once the server is
/// back, CONNECTs succeed again.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class CutOffTests(ITestOutputHelper output)
{
    [Fact]
    public async Task NatsKilled_ClientsClosedAndConnectsRefused_NatsBack_ConnectsSucceed()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 1);
        await using var brokers = await ClusterBrokers.StartAsync(nats, 1, "--Iot:Cluster:CutOffTimeout=00:00:01");
        try
        {
            var port = brokers.MqttPort(0);
            var (v5, v5Ack) = await RawMqttClient.ConnectAsync(port, Connect("cut-v5"));
            await using var v5Client = v5;
            Assert.Equal(MqttConnectReasonCode.Success, v5Ack.ReasonCode);
            var (v3, v3Ack) = await RawMqttClient.ConnectAsync(port, Connect("cut-v3"), MqttProtocolVersion.V311);
            await using var v3Client = v3;
            Assert.Equal(MqttConnectReturnCode.ConnectionAccepted, v3Ack.ReturnCode);

            await nats.KillAsync(0);

            var disconnect = await v5Client.ReceiveAsync<MqttDisconnectPacket>(TimeSpan.FromSeconds(20));
            Assert.NotNull(disconnect);
            Assert.Equal(MqttDisconnectReasonCode.UseAnotherServer, disconnect.ReasonCode);
            Assert.True(await v3Client.WaitForCloseAsync(TimeSpan.FromSeconds(20)), "the MQTT 3.1.1 client is closed");

            var (refusedV5, refusedV5Ack) = await RawMqttClient.ConnectAsync(port, Connect("cutn5"));
            await using (refusedV5)
            {
                Assert.Equal(MqttConnectReasonCode.ServerUnavailable, refusedV5Ack.ReasonCode);
            }

            var (refusedV3, refusedV3Ack) = await RawMqttClient.ConnectAsync(port, Connect("cutn3"), MqttProtocolVersion.V311);
            await using (refusedV3)
            {
                Assert.Equal(MqttConnectReturnCode.ConnectionRefusedServerUnavailable, refusedV3Ack.ReturnCode);
            }

            var http = brokers.HttpBaseAddress(0);
            Assert.Equal(1, await ClusterApi.MetricAsync(http, "iot_cluster_cut_off"));
            Assert.Equal(0, await ClusterApi.MetricAsync(http, "iot_cluster_nats_connected"));
            Assert.True(await ClusterApi.MetricAsync(http, "iot_mqtt_limit_hits_total{limit=\"cluster_cut_off\"}") >= 2);
            Assert.True(await ClusterApi.MetricAsync(http, "iot_cluster_cut_off_closed_total") >= 2);
            Assert.Contains("Cut off from NATS", brokers.Output(0), StringComparison.Ordinal);

            // Readiness says so too, so a load balancer takes the node out; liveness does not (the process is fine).
            var (readyCode, readyBody) = await ReadyAsync(http);
            Assert.True(readyCode == System.Net.HttpStatusCode.ServiceUnavailable, readyBody);
            Assert.Contains("\"name\":\"nats\",\"status\":\"Unhealthy\"", readyBody, StringComparison.Ordinal);

            await nats.RestartAsync(0);

            await Eventually.WaitUntilAsync(async () =>
            {
                var (client, ack) = await RawMqttClient.ConnectAsync(port, Connect("cutbk"));
                await client.DisposeAsync();
                return ack.ReasonCode == MqttConnectReasonCode.Success;
            }, TimeSpan.FromSeconds(30), "a CONNECT succeeds once NATS is back");
            Assert.Equal(0, await ClusterApi.MetricAsync(http, "iot_cluster_cut_off"));
            Assert.Equal(1, await ClusterApi.MetricAsync(http, "iot_cluster_cut_offs_total"));
            await Eventually.WaitUntilAsync(async () => (await ReadyAsync(http)).Code == System.Net.HttpStatusCode.OK,
                TimeSpan.FromSeconds(30), "readiness back once NATS is");
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    private static async Task<(System.Net.HttpStatusCode Code, string Body)> ReadyAsync(Uri http)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        using var response = await client.GetAsync(new Uri(http, "healthz/ready"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private static MqttConnectPacket Connect(string prefix) =>
        new() { ClientId = TestIds.ClientId(prefix), CleanSession = true, KeepAlivePeriod = 60 };
}
