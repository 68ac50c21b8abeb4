using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Iot.TestUtilities;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Telemetry;

/// <summary>
/// <c>/metrics</c> as Prometheus reads it, through real parts: a strict text-format parser, real MQTT clients, a real
/// webhook endpoint and a real device answering a command; and the same metrics pushed over OTLP to a receiver.
/// </summary>
[Trait("Category", "Integration")]
public sealed partial class MetricsExpositionTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Metrics_AfterRealTraffic_WholeScrapeParses_DocumentedNamesPresent_HistogramsMove()
    {
        await using var sink = await WebhookSink.StartAsync();
        // One window definition, so that the aggregation's series exist too.
        await using var broker = await BrokerFixture.StartAsync("--Iot:Routing:WebhookAllowPrivateNetworks=true",
            "--Iot:Streams:Windows:0:Name=t10", "--Iot:Streams:Windows:0:Kind=Tumbling", "--Iot:Streams:Windows:0:Size=00:00:10",
            "--Iot:Streams:Windows:0:Fields:0=temperature");
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(30) };

        // A publish to a persistent QoS 1 subscriber: a delivery, and a durable write of the session store.
        var topic = TestIds.Topic("metrics");
        using var subscriber = new MqttClientFactory().CreateMqttClient();
        var received = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        subscriber.ApplicationMessageReceivedAsync += _ =>
        {
            received.TrySetResult();
            return Task.CompletedTask;
        };
        await subscriber.ConnectAsync(broker.CreateMqttClientOptionsBuilder(TestIds.ClientId("m-sub")).WithCleanStart(false).WithSessionExpiryInterval(300).Build());
        await subscriber.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtLeastOnce);
        using var publisher = new MqttClientFactory().CreateMqttClient();
        await publisher.ConnectAsync(broker.CreateMqttClientOptions(TestIds.ClientId("m-pub")));
        await PublishSampledAsync(publisher, topic);
        await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload("m").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await received.Task.WaitAsync(Deadline);

        // Telemetry: an append to the stream "telemetry". An event: a webhook POST to the sink.
        using (var response = await http.PutAsJsonAsync(new Uri("api/subscriptions/metrics-hook", UriKind.Relative), new
        {
            filter = new { topicFilter = "devices/+/events/#" },
            destination = new { kind = "webhook", endpointUrl = sink.Url.ToString() },
        }))
        {
            Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        }

        var deviceId = TestIds.ClientId("m-dev");
        await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{deviceId}/telemetry").WithPayload("""{"temperature":21.5}""")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{deviceId}/events/alarm").WithPayload("""{"level":3}""")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await Eventually.WaitUntilAsync(() => !sink.Events.IsEmpty, Deadline, "the webhook received the event");

        // A command answered by a real MQTT device.
        await AnswerOneCommandAsync(broker, http, deviceId);

        var families = await Eventually.WaitForAsync(
            async () => PrometheusText.Parse(await http.GetStringAsync(new Uri("metrics", UriKind.Relative))),
            f => Histograms.All(h => f.TryGetValue(h, out var family) && family.Type == "histogram" && family.Count > 0),
            Deadline, "every histogram has observations");

        Assert.Contains(families["iot_routing_webhook_duration_seconds"].Samples, s => s.Name.EndsWith("_count", StringComparison.Ordinal) && s.Labels["outcome"] == "delivered" && s.Value >= 1);
        Assert.Contains(families["iot_stream_append_duration_seconds"].Samples, s => s.Labels.GetValueOrDefault("stream") == "telemetry");
        Assert.Contains(families["iot_routing_store_commit_duration_seconds"].Samples, s => s.Labels.GetValueOrDefault("store") == "routing");
        Assert.Contains(families["iot_routing_store_commit_duration_seconds"].Samples, s => s.Labels.GetValueOrDefault("store") == "queues");
        Assert.All(Histograms, h => Assert.False(string.IsNullOrWhiteSpace(families[h].Help), $"{h} has no HELP"));

        // Every name docs/api.md lists under "Metrics" is served (the cluster's only in cluster mode).
        var missing = DocumentedNames().Where(n => !n.StartsWith("iot_cluster_", StringComparison.Ordinal) && !families.ContainsKey(n)).ToList();
        Assert.True(missing.Count == 0, $"documented in docs/api.md but not in /metrics: {string.Join(", ", missing)}");
        // Every series the Grafana dashboard "Iot broker" queries exists.
        var queried = DashboardMetricNames().Where(n => !families.ContainsKey(n) && !families.ContainsKey(HistogramFamily(n))).ToList();
        Assert.True(queried.Count == 0, $"deploy/grafana/dashboards/iot-broker.json queries what /metrics lacks: {string.Join(", ", queried)}");
        Assert.Equal("counter", families["iot_mqtt_messages_received_total"].Type);
        Assert.Equal("gauge", families["iot_mqtt_connections"].Type);
        Assert.Contains(families["iot_mqtt_limit"].Samples, s => s.Labels["limit"] == "max_connections");

        await subscriber.DisconnectAsync();
        await publisher.DisconnectAsync();
    }

    [Fact]
    public async Task Histograms_WithTheSdkListening_RecordWithoutAllocating()
    {
        await using var broker = await BrokerFixture.StartAsync();
        var mqtt = broker.App.Services.GetRequiredService<Iot.Broker.Mqtt.BrokerMetrics>();
        var routing = broker.App.Services.GetRequiredService<Iot.Routing.Hosting.RoutingMetrics>();
        var outcome = new KeyValuePair<string, object?>("outcome", "delivered");
        var store = new KeyValuePair<string, object?>("store", "queues");

        // As the hot paths record: a double, and at most one tag whose value is a string they already hold.
        var allocated = SteadyStateAllocations.Of(() =>
        {
            mqtt.DeliveryDuration.Record(0.0001);
            mqtt.StoreCommitDuration.Record(0.002);
            routing.WebhookDuration.Record(0.05, outcome);
            routing.StoreCommitDuration.Record(0.003, store);
            routing.CommandRoundTrip.Record(0.2);
        });

        Assert.Equal(0, allocated);
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(30) };
        var families = PrometheusText.Parse(await http.GetStringAsync(new Uri("metrics", UriKind.Relative)));
        Assert.True(families["iot_mqtt_delivery_duration_seconds"].Count >= 1000, "the SDK was listening to what was measured");
        Assert.True(families["iot_routing_webhook_duration_seconds"].Count >= 1000, "the SDK was listening to what was measured");
    }

    [Fact]
    public async Task Metrics_PrometheusAsksForOpenMetrics_AnsweredInText004WithTheGaugeAndTheCounterOfConnections()
    {
        await using var broker = await BrokerFixture.StartAsync();
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("metrics", UriKind.Relative));

        // Prometheus 3's default Accept header.
        request.Headers.TryAddWithoutValidation("Accept",
            "application/openmetrics-text;version=1.0.0;escaping=underscores,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=1.0.0;escaping=underscores;q=0.5,*/*;q=0.1");
        using var response = await http.SendAsync(request);

        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(response.Content.Headers.ContentType!.Parameters, p => p.Name == "version" && p.Value == "0.0.4");
        var text = await response.Content.ReadAsStringAsync();
        var families = PrometheusText.Parse(text);
        Assert.Equal("gauge", families["iot_mqtt_connections"].Type);
        Assert.Equal("counter", families["iot_mqtt_connections_total"].Type);
        Assert.Matches("(?m)^iot_mqtt_connections 0$", text);
    }

    [Fact]
    public async Task Otlp_EndpointConfigured_ReceiverGetsTheBrokersMetricsAndHistograms()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var broker = await BrokerFixture.StartAsync($"--Iot:Telemetry:OtlpEndpoint={receiver.Endpoint}", "--Iot:Telemetry:OtlpExportInterval=00:00:01");
        var topic = TestIds.Topic("otlp");
        using var subscriber = new MqttClientFactory().CreateMqttClient();
        await subscriber.ConnectAsync(broker.CreateMqttClientOptions(TestIds.ClientId("o-sub")));
        await subscriber.SubscribeAsync(topic);
        using var publisher = new MqttClientFactory().CreateMqttClient();
        await publisher.ConnectAsync(broker.CreateMqttClientOptions(TestIds.ClientId("o-pub")));
        await PublishSampledAsync(publisher, topic);

        string[] expected =
        [
            "Iot.Mqtt/iot_mqtt_connections", "Iot.Mqtt/iot_mqtt_messages_received_total", "Iot.Mqtt/iot.mqtt.delivery.duration",
            "Iot.Runtime/process_resident_memory_bytes", "Iot.Routing/iot_routing_messages_routed_total", "Iot.Streams/iot_stream_next_offset",
        ];
        await Eventually.WaitUntilAsync(() => expected.All(receiver.Metrics.ContainsKey), Deadline,
            $"the receiver gets {string.Join(", ", expected)}; so far: {string.Join(", ", receiver.Metrics.Keys.Order())}");
        await subscriber.DisconnectAsync();
        await publisher.DisconnectAsync();
    }

    /// <summary>
    /// Enough messages that the sampled delivery histogram records some: one in
    /// <see cref="Iot.Broker.Mqtt.MessageDispatcher.DeliverySampleEvery"/> per thread, and a connection's messages are read on few threads.
    /// </summary>
    private static async Task PublishSampledAsync(IMqttClient publisher, string topic)
    {
        for (int i = 0; i < 16 * Iot.Broker.Mqtt.MessageDispatcher.DeliverySampleEvery; i++)
        {
            await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload("m").Build());
        }
    }

    private static readonly string[] Histograms =
    [
        "iot_mqtt_delivery_duration_seconds", "iot_store_commit_duration_seconds", "iot_routing_store_commit_duration_seconds",
        "iot_stream_append_duration_seconds", "iot_routing_webhook_duration_seconds", "iot_commands_round_trip_seconds",
    ];

    /// <summary>A device subscribed to its commands answers the one a <c>POST ...?wait=</c> sends it.</summary>
    private static async Task AnswerOneCommandAsync(BrokerFixture broker, HttpClient http, string deviceId)
    {
        using var device = new MqttClientFactory().CreateMqttClient();
        var command = new TaskCompletionSource<MqttApplicationMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        device.ApplicationMessageReceivedAsync += e =>
        {
            command.TrySetResult(e.ApplicationMessage);
            return Task.CompletedTask;
        };
        await device.ConnectAsync(broker.CreateMqttClientOptions(deviceId));
        await device.SubscribeAsync($"devices/{deviceId}/commands/#", MqttQualityOfServiceLevel.AtLeastOnce);
        using var content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json");
        var posted = http.PostAsync(new Uri($"api/devices/{deviceId}/commands/ping?wait=20", UriKind.Relative), content);

        // The answer is published from here, not from the receive handler, which must not wait for its own PUBACK.
        var received = await command.Task.WaitAsync(Deadline);
        await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(received.ResponseTopic).WithPayload("""{"status":"ok"}""")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        using var response = await posted;
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        await device.DisconnectAsync();
    }

    /// <summary>The series the "Iot broker" Grafana dashboard's PromQL expressions read.</summary>
    private static List<string> DashboardMetricNames()
    {
        using var dashboard = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryPaths.Root, "deploy", "grafana", "dashboards", "iot-broker.json")));
        var names = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray())
            .SelectMany(t => MetricIdentifier().Matches(t.GetProperty("expr").GetString()!).Select(m => m.Value))
            .Distinct()
            .ToList();
        Assert.True(names.Count > 10, $"the dashboard queries only {names.Count} series");
        return names;
    }

    private static string HistogramFamily(string series) => Regex.Replace(series, "_(bucket|sum|count)$", "");

    /// <summary>The metric names in the first column of docs/api.md's "Metrics" section (labels left out).</summary>
    private static List<string> DocumentedNames()
    {
        var api = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "docs", "api.md"));
        var start = api.IndexOf("\n## Metrics\n", StringComparison.Ordinal);
        var end = api.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        var names = api[start..end].Split('\n')
            .Where(l => l.StartsWith("| `", StringComparison.Ordinal))
            .SelectMany(l => MetricName().Matches(l.Split('|')[1]).Select(m => m.Groups[1].Value))
            .Distinct()
            .ToList();
        Assert.True(names.Count > 80, $"docs/api.md lists only {names.Count} metrics: is the table still there?");
        return names;
    }

    [GeneratedRegex(@"\b(?:iot|process|dotnet)_[a-z0-9_]+")]
    private static partial Regex MetricIdentifier();

    [GeneratedRegex(@"`((?:iot|process|dotnet)_[a-z0-9_]+)(?:\{[^}]*\})?`")]
    private static partial Regex MetricName();
}
