using System.Globalization;
using System.Text;
using Iot.Broker.Mqtt;
using Iot.Streams.Log;
using Iot.TestUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Robustness;

/// <summary>
/// Queue-based load leveling through the real broker: the stream store behind the default telemetry route stops keeping
/// up (<see cref="GatedStreamStore"/>) while MQTT publishers send QoS 1 telemetry as fast as they can. The broker must
/// stop reading from them at <c>Iot:Mqtt:MaxPendingDurableWrites</c> and hold their PUBACKs, not buffer without limit nor
/// drop; once the store catches up, every acknowledged message is in the stream. QoS 0 meanwhile skips the routes and is
/// counted; <c>/metrics</c> shows all of it.
/// </summary>
[Trait("Category", "Integration")]
public sealed class LoadLevelingTests
{
    private const int Bound = 40;
    private const int Publishers = 4;
    private const int MessagesPerPublisher = 100;
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task SlowStreamStore_FastQos1Publishers_PausedAtTheBound_PubAcksWait_NothingAcknowledgedLost()
    {
        GatedStreamStore? gate = null;
        await using var broker = await BrokerFixture.StartAsync(
            builder => builder.Services.Replace(ServiceDescriptor.Singleton<IStreamStore>(
                sp => gate = new GatedStreamStore(sp.GetRequiredService<Iot.Streams.Log.FileStreamStore>()))),
            $"--Iot:Mqtt:MaxPendingDurableWrites={Bound}",
            "--Iot:Mqtt:PendingDurableResumePercent=50");
        var backlog = broker.App.Services.GetRequiredService<BrokerContext>().Backlog;
        var metrics = broker.App.Services.GetRequiredService<BrokerMetrics>();
        _ = broker.App.Services.GetRequiredService<IStreamStore>();
        Assert.NotNull(gate);
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(30) };

        var prefix = TestIds.Topic("level").Replace('/', '-');
        var clients = new List<IMqttClient>();
        try
        {
            // Half MQTT 3.1.1, half MQTT 5; each sends all its messages at once, as a device flushing a buffer does.
            var publishes = new List<(string Device, int Seq, Task<MqttClientPublishResult> Ack)>();
            for (int p = 0; p < Publishers; p++)
            {
                var device = $"{prefix}-d{p}";
                var client = new MqttClientFactory().CreateMqttClient();
                clients.Add(client);
                await client.ConnectAsync(broker.CreateMqttClientOptionsBuilder(device, p % 2 == 0 ? MqttProtocolVersion.V311 : MqttProtocolVersion.V500)
                    .WithTimeout(TimeSpan.FromMinutes(3)).Build());
                for (int seq = 0; seq < MessagesPerPublisher; seq++)
                {
                    var message = new MqttApplicationMessageBuilder()
                        .WithTopic($"devices/{device}/telemetry")
                        .WithPayload(Payload(device, seq))
                        .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                        .Build();
                    publishes.Add((device, seq, client.PublishAsync(message)));
                }
            }

            // Every publisher ends up not read from: its last publish waits for the store, which is full.
            await Eventually.WaitUntilAsync(() => backlog.PausedConnections == Publishers, Generous,
                $"all {Publishers} publishers paused (paused {backlog.PausedConnections}, waiting writes {backlog.Writes})");
            Assert.True(backlog.IsSaturated);
            Assert.InRange(backlog.Pauses, Publishers, long.MaxValue);

            // Their PUBACKs wait for the store: none of the 400 publishes has been acknowledged.
            Assert.DoesNotContain(publishes, p => p.Ack.IsCompleted);

            // Bounded: the broker took at most the bound plus one publish per connection off the sockets; the rest wait
            // in the publishers (unread TCP), not in the broker.
            Assert.InRange(backlog.Writes, Bound, Bound + Publishers);
            Assert.InRange(backlog.PeakWrites, Bound, Bound + Publishers);
            Assert.InRange(gate!.PeakWaiting, Bound, Bound + Publishers);
            Assert.Equal(backlog.Writes, gate.Waiting);

            // QoS 0 telemetry meanwhile is not offered to the routes (dropped there and counted), and its publisher is
            // never paused: its PINGs and publishes go on.
            var qos0 = new MqttClientFactory().CreateMqttClient();
            clients.Add(qos0);
            await qos0.ConnectAsync(broker.CreateMqttClientOptions($"{prefix}-q0"));
            for (int i = 0; i < 5; i++)
            {
                await qos0.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{prefix}-q0/telemetry")
                    .WithPayload(Payload($"{prefix}-q0", i)).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtMostOnce).Build());
            }

            await Eventually.WaitUntilAsync(() => metrics.Dropped(DropReason.DurableBacklog) >= 5, Generous, "the QoS 0 publishes counted as dropped");
            Assert.True(await qos0.TryPingAsync());
            Assert.Equal(backlog.Writes, gate.Waiting);

            // /metrics shows the back-pressure.
            var during = await ScrapeAsync(http);
            Assert.InRange(Value(during, "iot_mqtt_durable_backlog_writes"), Bound, Bound + Publishers);
            Assert.Equal(1, Value(during, "iot_mqtt_durable_backlog_saturated"));
            Assert.Equal(Publishers, Value(during, "iot_mqtt_durable_backlog_paused_connections"));
            Assert.InRange(Value(during, "iot_mqtt_durable_backlog_pauses_total"), Publishers, double.MaxValue);
            Assert.InRange(Value(during, "iot_mqtt_durable_backlog_bytes"), 1, double.MaxValue);
            Assert.InRange(Value(during, "iot_mqtt_messages_dropped_total", "reason", "durable_backlog"), 5, double.MaxValue);
            Assert.Equal(Bound, Value(during, "iot_mqtt_limit", "limit", "max_pending_durable_writes"));

            // The store catches up: every publish is acknowledged, and every one of them is in the stream.
            gate.Open();
            var results = await Task.WhenAll(publishes.Select(p => p.Ack)).WaitAsync(Generous);
            Assert.All(results, r => Assert.Equal(MqttClientPublishReasonCode.Success, r.ReasonCode));
            var stored = await ReadStreamAsync(broker.App.Services.GetRequiredService<IStreamStore>(), prefix);
            var missing = publishes.Select(p => Encoding.UTF8.GetString(Payload(p.Device, p.Seq))).Where(p => !stored.Contains(p)).ToList();
            Assert.True(missing.Count == 0, $"{missing.Count} acknowledged messages are not in the stream, e.g. {missing.FirstOrDefault()}");
            Assert.DoesNotContain(stored, s => s.Contains($"{prefix}-q0", StringComparison.Ordinal));

            await Eventually.WaitUntilAsync((Func<bool>)(() => backlog.Writes == 0 && !backlog.IsSaturated && backlog.PausedConnections == 0), Generous,
                "the backlog drained and the publishers resumed");
            var after = await ScrapeAsync(http);
            Assert.Equal(0, Value(after, "iot_mqtt_durable_backlog_writes"));
            Assert.Equal(0, Value(after, "iot_mqtt_durable_backlog_paused_connections"));
            Assert.InRange(Value(after, "iot_mqtt_durable_backlog_paused_seconds_total"), double.Epsilon, double.MaxValue);
        }
        finally
        {
            gate?.Open();
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    private static byte[] Payload(string device, int seq) =>
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{{\"device\":\"{device}\",\"seq\":{seq},\"temperature\":21.5}}"));

    /// <summary>Every payload in the <c>telemetry</c> stream from the devices of this test.</summary>
    private static async Task<HashSet<string>> ReadStreamAsync(IStreamStore store, string prefix)
    {
        var definition = store.Find("telemetry") ?? throw new InvalidOperationException("no telemetry stream");
        var payloads = new HashSet<string>(StringComparer.Ordinal);
        for (int partition = 0; partition < definition.Partitions; partition++)
        {
            var log = store.GetPartition("telemetry", partition);
            var offset = log.StartOffset;
            while (offset < log.NextOffset)
            {
                var records = await log.ReadAsync(offset, 500);
                foreach (var record in records)
                {
                    if (record.Topic?.Contains(prefix, StringComparison.Ordinal) == true)
                    {
                        payloads.Add(Encoding.UTF8.GetString(record.Payload.Span));
                    }

                    offset = record.Offset + 1;
                }
            }
        }

        return payloads;
    }

    private static async Task<IReadOnlyDictionary<string, PrometheusFamily>> ScrapeAsync(HttpClient http) =>
        PrometheusText.Parse(await http.GetStringAsync(new Uri("metrics", UriKind.Relative)));

    private static double Value(IReadOnlyDictionary<string, PrometheusFamily> families, string name, string? label = null, string? value = null)
    {
        Assert.True(families.TryGetValue(name, out var family), $"{name} is not in /metrics");
        return family.Samples.Single(s => s.Name == name && (label is null || (s.Labels.TryGetValue(label, out var v) && v == value))).Value;
    }
}
