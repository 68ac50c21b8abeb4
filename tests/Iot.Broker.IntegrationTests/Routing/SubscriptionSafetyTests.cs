using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Routing;

/// <summary>
/// Findings 11, 12 and 15 of issue 16 against the real broker (Production environment, anonymous access off, API keys)
/// with HttpClient and an MQTT device: webhook destinations on private addresses are refused, an MQTT destination needs
/// its creator's publish right, and an undrained subscription stops at its quota while the publisher and the other
/// subscriptions carry on.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SubscriptionSafetyTests
{
    private const string ServiceKey = "it-svc-key-0123456789abcdef";
    private const string DevicePassword = "it-device-password";

    private static Task<BrokerFixture> StartBrokerAsync() => BrokerFixture.StartAsync(
        "--Iot:Security:AllowAnonymous=false",
        "--Iot:Security:PasswordIterations=1000",
        "--Iot:Security:Identities:0:Id=it-svc",
        "--Iot:Security:Identities:0:Role=Service",
        $"--Iot:Security:Identities:0:ApiKey={ServiceKey}",
        "--Iot:Security:Identities:1:Id=it-dev",
        "--Iot:Security:Identities:1:Role=Device",
        $"--Iot:Security:Identities:1:Password={DevicePassword}",
        "--Iot:Routing:MaxPendingEventsPerSubscription=5",
        // Only the test's own webhook sink; everything else private stays refused.
        "--Iot:Routing:WebhookAllowedNetworks:0=127.0.0.1/32");

    private static HttpClient Client(BrokerFixture broker)
    {
        var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(15) };
        http.DefaultRequestHeaders.Add("X-Api-Key", ServiceKey);
        return http;
    }

    [Fact]
    public async Task SubscriptionDestinations_CheckedAgainstAddressPolicyAndPublishRights()
    {
        await using var broker = await StartBrokerAsync();
        using var http = Client(broker);

        // Finding 12: the service identity may publish commands, not aggregates, and nobody's destination is a $ topic.
        Assert.Equal(HttpStatusCode.Forbidden, await PutAsync(http, "to-aggregates", new { kind = "mqtt", topic = "aggregates/telemetry/1m/dev-a" }));
        Assert.Equal(HttpStatusCode.Forbidden, await PutAsync(http, "to-sys", new { kind = "mqtt", topic = "$SYS/x" }));
        Assert.Equal(HttpStatusCode.Created, await PutAsync(http, "to-commands", new { kind = "mqtt", topic = "devices/dev-a/commands/notify" }));

        // Finding 11: private and metadata addresses, in any form, are refused in Production.
        foreach (var url in new[] { "http://169.254.169.254/latest/meta-data/", "http://0x7f000002/hook", "http://[::ffff:10.0.0.1]/hook" })
        {
            Assert.Equal(HttpStatusCode.BadRequest, await PutAsync(http, "ssrf", new { kind = "webhook", endpointUrl = url }));
        }

        var metrics = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
        Assert.Contains("iot_routing_destinations_refused_total 5", metrics, StringComparison.Ordinal);
        using var list = await http.GetAsync(new Uri("api/subscriptions", UriKind.Relative));
        var names = (await list.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray().Select(s => s.GetProperty("name").GetString()).ToList();
        Assert.Equal(["to-commands"], names);
    }

    [Fact]
    public async Task UndrainedPullSubscription_StaysAtQuota_PublisherAndWebhookUnaffected()
    {
        await using var sink = await WebhookSink.StartAsync();
        await using var broker = await StartBrokerAsync();
        using var http = Client(broker);
        Assert.Equal(HttpStatusCode.Created, await PutAsync(http, "undrained", new { kind = "pull" }));
        Assert.Equal(HttpStatusCode.Created, await PutAsync(http, "live", new { kind = "webhook", endpointUrl = sink.Url.ToString() }));

        using var device = new MqttClientFactory().CreateMqttClient();
        await device.ConnectAsync(broker.CreateMqttClientOptionsBuilder("it-dev").WithCredentials("it-dev", DevicePassword).Build());
        for (int i = 0; i < 8; i++)
        {
            var result = await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic("devices/it-dev/events/door")
                .WithPayload($$"""{"n":{{i}}}""").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.True(result.IsSuccess, result.ReasonCode.ToString());

            // The quota applies to every subscription: the live one keeps up (each event delivered before the next).
            await Eventually.WaitUntilAsync(() => sink.Events.Count == i + 1, TimeSpan.FromSeconds(20), "the live webhook got the event");
        }

        using var described = await http.GetAsync(new Uri("api/subscriptions/undrained", UriKind.Relative));
        Assert.Equal(5, (await described.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("pendingEvents").GetInt64());
        var metrics = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
        Assert.Contains("iot_routing_subscription_full_dropped_total 3", metrics, StringComparison.Ordinal);
        await device.DisconnectAsync();
    }

    private static async Task<HttpStatusCode> PutAsync(HttpClient http, string name, object destination)
    {
        using var response = await http.PutAsJsonAsync(new Uri($"api/subscriptions/{name}", UriKind.Relative), new { destination });
        if (response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.Forbidden)
        {
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Contains("destination", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        return response.StatusCode;
    }
}
