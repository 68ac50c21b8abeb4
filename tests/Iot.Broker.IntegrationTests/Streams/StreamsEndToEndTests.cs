using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Streams;

/// <summary>
/// Issue 6's "done when", through the real broker: ten devices publish telemetry over MQTT (QoS 1, out of order within
/// the tolerance); the default route appends it to the stream <c>telemetry</c>; each window kind publishes correct,
/// retained aggregates on <c>aggregates/telemetry/{window}/{device}</c>. Needs the broker wiring of Iot.Streams
/// (<c>AddIotStreams</c> and <c>MapStreamsApi</c> in BrokerHost).
/// </summary>
[Trait("Category", "Integration")]
public sealed class StreamsEndToEndTests
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static readonly string[] WindowArgs =
    [
        .. Window(0, "t10", "Tumbling", "--Iot:Streams:Windows:{0}:Size=00:00:10"),
        .. Window(1, "h10", "Hopping", "--Iot:Streams:Windows:{0}:Size=00:00:10", "--Iot:Streams:Windows:{0}:Hop=00:00:05"),
        .. Window(2, "s5", "Sliding", "--Iot:Streams:Windows:{0}:Size=00:00:05"),
        .. Window(3, "g4", "Session", "--Iot:Streams:Windows:{0}:Gap=00:00:04"),
    ];

    private static IEnumerable<string> Window(int index, string name, string kind, params string[] extra) =>
        new[]
        {
            "--Iot:Streams:Windows:{0}:Name=" + name,
            "--Iot:Streams:Windows:{0}:Kind=" + kind,
            "--Iot:Streams:Windows:{0}:Fields:0=temperature",
            "--Iot:Streams:Windows:{0}:Tolerance=00:00:02",
            "--Iot:Streams:Windows:{0}:IdleAdvance=false",
        }.Concat(extra).Select(a => string.Format(CultureInfo.InvariantCulture, a, index));

    [Fact]
    public async Task TenDevices_OutOfOrderTelemetry_CorrectRetainedAggregatesForEveryWindowKind()
    {
        await using var broker = await BrokerFixture.StartAsync(WindowArgs);
        var received = new ConcurrentQueue<(string Topic, JsonElement Result, bool Retained)>();
        using var subscriber = new MqttClientFactory().CreateMqttClient();
        subscriber.ApplicationMessageReceivedAsync += e =>
        {
            using var json = JsonDocument.Parse(e.ApplicationMessage.ConvertPayloadToString());
            received.Enqueue((e.ApplicationMessage.Topic, json.RootElement.Clone(), e.ApplicationMessage.Retain));
            return Task.CompletedTask;
        };
        await subscriber.ConnectAsync(broker.CreateMqttClientOptions("agg-" + Guid.NewGuid().ToString("N")[..8]));
        await subscriber.SubscribeAsync("aggregates/telemetry/#", MqttQualityOfServiceLevel.AtLeastOnce);

        var devices = new List<IMqttClient>();
        try
        {
            for (int d = 0; d < 10; d++)
            {
                var device = new MqttClientFactory().CreateMqttClient();
                await device.ConnectAsync(broker.CreateMqttClientOptions($"e2e-dev-{d}"));
                devices.Add(device);
            }

            // Side by side and out of order (2 before 1) within the 2 s tolerance; the events at 12 s close [0, 10).
            foreach (var second in new[] { 0, 2, 1, 3, 9, 12 })
            {
                await Task.WhenAll(devices.Select((device, d) => PublishAsync(device, d, second)));
            }

            // Per device: t10 1, h10 2 ([-5,5) and [0,10)), s5 5 (one per event before the watermark), g4 1.
            await Eventually.WaitUntilAsync(() => received.Count >= 90, TimeSpan.FromSeconds(30), "90 aggregates");
            for (int d = 0; d < 10; d++)
            {
                var mine = received.Where(r => r.Topic.EndsWith($"/e2e-dev-{d}", StringComparison.Ordinal)).ToList();
                double Value(int second) => d * 10 + second;

                var tumbling = Assert.Single(mine, r => r.Topic.StartsWith("aggregates/telemetry/t10/", StringComparison.Ordinal)).Result;
                Assert.Equal(5, tumbling.GetProperty("count").GetInt64());
                Assert.Equal(Value(3), Field(tumbling, "avg"), 9);
                Assert.Equal(Value(9), Field(tumbling, "last"));

                var hopping = mine.Where(r => r.Topic.StartsWith("aggregates/telemetry/h10/", StringComparison.Ordinal))
                    .Select(r => r.Result).OrderBy(r => r.GetProperty("start").GetDateTimeOffset()).ToList();
                Assert.Equal([4L, 5L], hopping.Select(h => h.GetProperty("count").GetInt64()));
                Assert.Equal(T0.AddSeconds(-5), hopping[0].GetProperty("start").GetDateTimeOffset());

                var sliding = mine.Where(r => r.Topic.StartsWith("aggregates/telemetry/s5/", StringComparison.Ordinal))
                    .Select(r => r.Result).OrderBy(r => r.GetProperty("end").GetDateTimeOffset()).ToList();
                Assert.Equal([1L, 2L, 3L, 4L, 1L], sliding.Select(s => s.GetProperty("count").GetInt64()));

                var session = Assert.Single(mine, r => r.Topic.StartsWith("aggregates/telemetry/g4/", StringComparison.Ordinal)).Result;
                Assert.Equal(4, session.GetProperty("count").GetInt64());
                Assert.Equal(T0.AddSeconds(7), session.GetProperty("end").GetDateTimeOffset());
            }

            // Retained: a late subscriber gets the latest result of each window and device at once.
            using var late = new MqttClientFactory().CreateMqttClient();
            var retained = new ConcurrentDictionary<string, bool>();
            late.ApplicationMessageReceivedAsync += e =>
            {
                retained[e.ApplicationMessage.Topic] = e.ApplicationMessage.Retain;
                return Task.CompletedTask;
            };
            await late.ConnectAsync(broker.CreateMqttClientOptions("late-" + Guid.NewGuid().ToString("N")[..8]));
            await late.SubscribeAsync("aggregates/telemetry/#", MqttQualityOfServiceLevel.AtLeastOnce);
            await Eventually.WaitUntilAsync(() => retained.Count == 40, TimeSpan.FromSeconds(10), "40 retained aggregates");
            Assert.All(retained.Values, Assert.True);

            // The stream holds every message, readable over the API.
            using var http = new HttpClient { BaseAddress = broker.HttpBaseUri };
            var stream = await http.GetFromJsonAsync<JsonElement>(new Uri("api/streams/telemetry", UriKind.Relative));
            Assert.Equal(60, stream.GetProperty("partitionOffsets").EnumerateArray().Sum(p => p.GetProperty("nextOffset").GetInt64()));

            // And /metrics shows the streams layer (the exporter writes the labels in name order).
            var metrics = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
            Assert.Contains("iot_stream_next_offset{partition=\"0\",stream=\"telemetry\"}", metrics, StringComparison.Ordinal);
            Assert.Matches("iot_aggregates_published_total [1-9]", metrics);
            Assert.Matches("iot_aggregation_open_windows\\{partition=\"\\d+\",stream=\"telemetry\",window=\"t10\"\\}", metrics);
        }
        finally
        {
            foreach (var device in devices)
            {
                device.Dispose();
            }
        }
    }

    private static double Field(JsonElement result, string aggregate) =>
        result.GetProperty("fields").GetProperty("temperature").GetProperty(aggregate).GetDouble();

    private static async Task PublishAsync(IMqttClient device, int d, int second)
    {
        var payload = string.Create(CultureInfo.InvariantCulture, $"{{\"temperature\":{d * 10 + second},\"ts\":\"{T0.AddSeconds(second):O}\"}}");
        var result = await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/e2e-dev-{d}/telemetry").WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True(result.IsSuccess, $"publish of device {d} at {second} s: {result.ReasonCode}");
    }
}
