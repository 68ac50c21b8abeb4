using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Routing;

/// <summary>
/// Issue 4's "done when": device events published over MQTT reach two filtered webhook subscriptions and one pull
/// subscription exactly as filtered, and none is lost across a webhook outage and a broker kill -9 and restart.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class EventSubscriptionEndToEndTests(ITestOutputHelper output)
{
    // The broker runs as Production, which refuses private webhook destinations; the sinks listen on loopback.
    private static readonly string[] RoutingArgs = ["--Iot:Routing:RetrySchedule:0=00:00:00.200", "--Iot:Routing:RetrySchedule:1=00:00:00.500",
        "--Iot:Routing:WebhookAllowPrivateNetworks=true"];

    [Fact]
    public async Task DeviceEvents_ReachFilteredWebhooksAndPull_NoneLostAcrossOutageAndKill9()
    {
        using var dataDir = new TempDirectory("iot-e2e-events");
        await using var hot = await WebhookSink.StartAsync();
        await using var doors = await WebhookSink.StartAsync();
        var broker = await BrokerProcess.StartAsync(dataDir.Path, RoutingArgs);
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/") };
            await Put(http, "hot-alarms", new
            {
                filter = new
                {
                    topicFilter = "devices/+/events/#",
                    includedEventTypes = new[] { "iot.device.event.alarm" },
                    conditions = new object[] { new { operatorType = "NumberGreaterThan", key = "data.temperature", value = 50 } },
                },
                destination = new { kind = "webhook", endpointUrl = hot.Url.ToString() },
            });
            await Put(http, "doors", new
            {
                filter = new { topicFilter = "devices/+/events/door" },
                destination = new { kind = "webhook", endpointUrl = doors.Url.ToString() },
            });
            await Put(http, "audit", new
            {
                filter = new { topicFilter = "devices/#" },
                destination = new { kind = "pull" },
            });

            await PublishAsync(broker.MqttPort, "devices/d1/events/alarm", "{\"temperature\":55}");
            await PublishAsync(broker.MqttPort, "devices/d2/events/alarm", "{\"temperature\":20}");
            await PublishAsync(broker.MqttPort, "devices/d1/events/door", "{\"open\":true}");

            await Eventually.WaitUntilAsync(() => !hot.Events.IsEmpty && !doors.Events.IsEmpty, TimeSpan.FromSeconds(20), "first deliveries");
            Assert.Equal(["devices/d1/events/alarm"], hot.Subjects());
            Assert.Equal(["devices/d1/events/door"], doors.Subjects());
            Assert.Equal(55, hot.Events.Single().GetProperty("data").GetProperty("temperature").GetInt32());

            // The hot-alarm endpoint goes down; an event arrives; the broker is killed and restarted.
            await hot.StopAsync();
            await PublishAsync(broker.MqttPort, "devices/d3/events/alarm", "{\"temperature\":70}");
            await broker.KillAsync();
            output.WriteLine(broker.Output);
            await broker.DisposeAsync();
            broker = await BrokerProcess.StartAsync(dataDir.Path, RoutingArgs);
            await hot.RestartAsync();

            await Eventually.WaitUntilAsync(() => hot.Events.Count >= 2, TimeSpan.FromSeconds(30), "the pending delivery resumes after restart and outage");
            Assert.Equal(["devices/d1/events/alarm", "devices/d3/events/alarm"], hot.Subjects());

            using var http2 = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/") };
            var received = await http2.PostAsync(new Uri("api/subscriptions/audit/events:receive?maxEvents=10", UriKind.Relative), null);
            var body = await received.Content.ReadFromJsonAsync<JsonElement>();
            var subjects = body.GetProperty("value").EnumerateArray().Select(e => e.GetProperty("event").GetProperty("subject").GetString() ?? string.Empty).Order().ToArray();
            Assert.Equal(["devices/d1/events/alarm", "devices/d1/events/door", "devices/d2/events/alarm", "devices/d3/events/alarm"], subjects);
            Assert.Single(doors.Events);
        }
        catch
        {
            output.WriteLine(broker.Output);
            throw;
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    private static async Task Put(HttpClient http, string name, object subscription)
    {
        using var response = await http.PutAsJsonAsync(new Uri($"api/subscriptions/{name}", UriKind.Relative), subscription);
        Assert.True(response.IsSuccessStatusCode, $"PUT {name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static async Task PublishAsync(int port, string topic, string payload)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", port)
            .WithClientId("e2e-" + Guid.NewGuid().ToString("N")[..8]).Build());
        var result = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True(result.IsSuccess, result.ReasonCode.ToString() + " " + string.Create(CultureInfo.InvariantCulture, $"{port}"));
        await client.DisconnectAsync();
    }
}
