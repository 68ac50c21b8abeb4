using Iot.TestUtilities;
using static Iot.TestUtilities.ProcessInspection;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>
/// What the broker does for idle connections' memory: the heap compaction after a connection surge
/// (<c>Iot:Mqtt:CompactHeapAfterConnections</c>) and the trimming of an idle connection's send queue and in-flight map
/// (<c>Iot:Mqtt:IdleTrimSeconds</c>). Both must leave every connection working.
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class IdleMemoryTests
{
    [Fact]
    public async Task ConnectionSurge_ThenQuiet_CompactsTheHeapOnce_AndEveryConnectionStillWorks()
    {
        await using var broker = await BrokerFixture.StartAsync(
            "--Iot:Mqtt:CompactHeapAfterConnections=20", "--Iot:Mqtt:CompactHeapQuietSeconds=1");
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri };
        Assert.Equal(0, Sample(await http.GetStringAsync("/metrics"), "iot_heap_compactions_total"));

        var surge = new List<RawMqttClient>();
        try
        {
            for (var i = 0; i < 25; i++)
            {
                var (raw, connAck) = await RawMqttClient.ConnectAsync(
                    broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client($"surge{i}"), CleanSession = true, KeepAlivePeriod = 60 });
                Assert.Equal(MqttConnectReasonCode.Success, connAck.ReasonCode);
                surge.Add(raw);
            }

            var metrics = await Eventually.WaitForAsync(
                () => http.GetStringAsync("/metrics"), m => Sample(m, "iot_heap_compactions_total") == 1,
                TimeSpan.FromSeconds(15), "one compaction after the surge settled");
            Assert.True(Sample(metrics, "process_resident_memory_bytes") > 0);
            Assert.True(Sample(metrics, "dotnet_gc_heap_bytes") > 0);
            // The compaction is a full collection: counted in generation 2, with a pause, after some allocation.
            Assert.True(Sample(metrics, "dotnet_gc_collections_total{generation=\"2\"}") >= 1);
            Assert.True(Sample(metrics, "dotnet_gc_collections_total{generation=\"0\"}") >= Sample(metrics, "dotnet_gc_collections_total{generation=\"2\"}"));
            Assert.True(Sample(metrics, "dotnet_gc_pause_seconds_total") > 0);
            Assert.True(Sample(metrics, "dotnet_gc_allocated_bytes_total") > 0);

            // Every surge connection still answers (PINGREQ → PINGRESP) after the objects moved.
            foreach (var raw in surge)
            {
                await raw.SendAsync(MqttPingReqPacket.Instance);
                Assert.NotNull(await raw.ReceiveAsync<MqttPingRespPacket>(TimeSpan.FromSeconds(30)));
            }

            // No new surge, no new compaction.
            await Task.Delay(TimeSpan.FromSeconds(2.5));
            Assert.Equal(1, Sample(await http.GetStringAsync("/metrics"), "iot_heap_compactions_total"));
        }
        finally
        {
            foreach (var raw in surge)
            {
                await raw.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task IdleTrim_QoS1SubscriberAndPublisher_IdleThenBusyAgain_NothingLostOrDuplicated()
    {
        await using var broker = await BrokerFixture.StartAsync("--Iot:Mqtt:IdleTrimSeconds=1");
        var topic = TestIds.Topic("trim");
        await using var subscriber = await TestClient.ConnectAsync(broker, Ids.Client("trim-sub"));
        await subscriber.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtLeastOnce);
        await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("trim-pub"));

        var expected = new List<string>();
        var received = new List<string>();
        for (var round = 0; round < 3; round++)
        {
            // Idle for longer than the trim: both connections give back their queue and in-flight map.
            await Task.Delay(TimeSpan.FromSeconds(2.5));
            for (var i = 0; i < 5; i++)
            {
                var payload = $"{round}-{i}";
                expected.Add(payload);
                var result = await publisher.PublishAsync(topic, payload, MqttQualityOfServiceLevel.AtLeastOnce);
                Assert.True(result.IsSuccess, $"PUBACK for {payload}");
            }

            for (var i = 0; i < 5; i++)
            {
                received.Add((await subscriber.ReceiveAsync(TimeSpan.FromSeconds(30))).ConvertPayloadToString());
            }
        }

        Assert.Equal(expected, received);
        Assert.Null(await subscriber.TryReceiveAsync(TimeSpan.FromSeconds(1)));
    }
}
