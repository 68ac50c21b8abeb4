using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests;

/// <summary><c>/healthz</c> and <c>/metrics</c> on the HTTP port, as a load balancer and Prometheus see them.</summary>
[Collection(OperationsCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class OperationsEndpointTests(BrokerFixture broker) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(15) };

    [Fact]
    public async Task Healthz_WhileServing_Returns200()
    {
        using var response = await _http.GetAsync(new Uri("healthz", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Probes_LiveAndReady_Answer200_ReadyNamesEachCheck()
    {
        Assert.Equal("ok\n", await _http.GetStringAsync(new Uri("healthz/live", UriKind.Relative)));
        using var ready = await _http.GetAsync(new Uri("healthz/ready", UriKind.Relative));
        var body = await ready.Content.ReadAsStringAsync();
        Assert.True(ready.StatusCode == HttpStatusCode.OK, body);
        using var report = System.Text.Json.JsonDocument.Parse(body);
        Assert.Equal("Healthy", report.RootElement.GetProperty("status").GetString());
        Assert.Equal(["data_dir", "drain", "influx_sink", "nats", "stores"],
            report.RootElement.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("name").GetString()).Order());
    }

    [Fact]
    public async Task Ready_FreeDiskBelowTheThreshold_Answers503_WhileLiveStays200()
    {
        await using var starved = await BrokerFixture.StartAsync($"--Iot:Health:MinFreeDiskBytes={long.MaxValue}");
        using var http = new HttpClient { BaseAddress = starved.HttpBaseUri, Timeout = TimeSpan.FromSeconds(15) };
        using var ready = await http.GetAsync(new Uri("healthz/ready", UriKind.Relative));
        var body = await ready.Content.ReadAsStringAsync();
        Assert.True(ready.StatusCode == HttpStatusCode.ServiceUnavailable, body);
        using var report = System.Text.Json.JsonDocument.Parse(body);
        var dataDir = report.RootElement.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "data_dir");
        Assert.Equal("Unhealthy", dataDir.GetProperty("status").GetString());
        Assert.Contains("Iot:Health:MinFreeDiskBytes", dataDir.GetProperty("description").GetString(), StringComparison.Ordinal);
        using var live = await http.GetAsync(new Uri("healthz", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    [Theory]
    [InlineData("Degraded", HttpStatusCode.OK)]
    [InlineData("Unhealthy", HttpStatusCode.ServiceUnavailable)]
    public async Task Ready_InfluxSinkLaggingPastTheThreshold_ReportsTheConfiguredStatus(string status, HttpStatusCode expected)
    {
        // InfluxDB is down (nothing listens on the port): the telemetry waits, and after InfluxSinkMaxLag the check says so.
        await using var lagging = await BrokerFixture.StartAsync(
            "--Iot:Influx:Enabled=true",
            $"--Iot:Influx:Url=http://127.0.0.1:{ClosedPort()}",
            "--Iot:Influx:MinRetryDelay=00:00:00.100",
            "--Iot:Influx:MaxRetryDelay=00:00:00.500",
            "--Iot:Influx:FlushInterval=00:00:00.050",
            "--Iot:Health:InfluxSinkMaxLag=00:00:01",
            $"--Iot:Health:InfluxSinkLagStatus={status}");
        using var http = new HttpClient { BaseAddress = lagging.HttpBaseUri, Timeout = TimeSpan.FromSeconds(15) };
        Assert.Equal("Healthy", (await InfluxCheckAsync(http)).Status);

        using var device = new MqttClientFactory().CreateMqttClient();
        var clientId = TestIds.ClientId("lag");
        await device.ConnectAsync(lagging.CreateMqttClientOptions(clientId));
        var result = await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{clientId}/telemetry")
            .WithPayload("{\"temperature\":21.5}").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True(result.IsSuccess, $"PUBACK reason {result.ReasonCode}");

        var check = await Eventually.WaitForAsync(() => InfluxCheckAsync(http), c => c.Status == status, TimeSpan.FromSeconds(30),
            $"influx_sink reports {status}");
        Assert.Equal(expected, check.Code);
        Assert.Contains("1 records behind", check.Description, StringComparison.Ordinal);
        Assert.Contains("Iot:Health:InfluxSinkMaxLag", check.Description, StringComparison.Ordinal);
        using var live = await http.GetAsync(new Uri("healthz/live", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
    }

    [Fact]
    public async Task Metrics_Always_PrometheusTextWithBrokerMetrics()
    {
        using var response = await _http.GetAsync(new Uri("metrics", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        foreach (var name in new[] { "iot_mqtt_connections", "iot_mqtt_messages_received_total", "iot_mqtt_retained_messages" })
        {
            Assert.True(Sample(text, name) is not null, $"/metrics has no sample of {name}:\n{text}");
        }
    }

    [Fact]
    public async Task Metrics_AfterPublishes_CountersAndGaugesMove()
    {
        var before = await ReadAsync("iot_mqtt_messages_received_total");
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(broker.CreateMqttClientOptions(TestIds.ClientId("metric")));
        var topic = TestIds.Topic("metrics");
        for (var i = 0; i < 3; i++)
        {
            var result = await client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic(topic)
                .WithPayload($"m{i}")
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .WithRetainFlag(i == 2)
                .Build());
            Assert.True(result.IsSuccess, $"PUBACK reason {result.ReasonCode}");
        }

        // Other tests may publish at the same time: the counter must have grown by at least our three.
        await Eventually.WaitForAsync(() => ReadAsync("iot_mqtt_messages_received_total"), v => v >= before + 3, TimeSpan.FromSeconds(10),
            "iot_mqtt_messages_received_total grows by the three publishes");
        await Eventually.WaitForAsync(() => ReadAsync("iot_mqtt_connections"), v => v >= 1, TimeSpan.FromSeconds(10),
            "iot_mqtt_connections counts the connected client");
        await Eventually.WaitForAsync(() => ReadAsync("iot_mqtt_retained_messages"), v => v >= 1, TimeSpan.FromSeconds(10),
            "iot_mqtt_retained_messages counts the retained message");

        await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithRetainFlag().WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        await client.DisconnectAsync();
    }

    public void Dispose() => _http.Dispose();

    private static async Task<(HttpStatusCode Code, string Status, string Description)> InfluxCheckAsync(HttpClient http)
    {
        using var ready = await http.GetAsync(new Uri("healthz/ready", UriKind.Relative));
        using var report = System.Text.Json.JsonDocument.Parse(await ready.Content.ReadAsStringAsync());
        var check = report.RootElement.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "influx_sink");
        return (ready.StatusCode, check.GetProperty("status").GetString()!,
            check.TryGetProperty("description", out var description) ? description.GetString()! : "");
    }

    private static int ClosedPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task<double> ReadAsync(string name)
    {
        var text = await _http.GetStringAsync(new Uri("metrics", UriKind.Relative));
        return Sample(text, name) ?? throw new InvalidOperationException($"/metrics has no sample of {name}:\n{text}");
    }

    /// <summary>The value of the unlabelled sample <paramref name="name"/> (or the sum over its labelled samples).</summary>
    private static double? Sample(string text, string name)
    {
        var matches = Regex.Matches(text, $@"^{Regex.Escape(name)}(\{{[^}}]*\}})?\s+(\S+)", RegexOptions.Multiline);
        return matches.Count == 0
            ? null
            : matches.Sum(m => double.Parse(m.Groups[2].Value, NumberStyles.Float, CultureInfo.InvariantCulture));
    }
}
