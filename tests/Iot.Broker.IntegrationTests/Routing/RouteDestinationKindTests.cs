using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Routing;

/// <summary>
/// Issue 17, seams: route destinations are registered by name (Routing registers <c>eventSubscription</c> and
/// <c>commandQueue</c>, Streams <c>stream</c>) instead of a closed enum. Through the real broker's HTTP API and an MQTT
/// client: the API's JSON is unchanged, a kind is accepted in any case and shown as the destination spells it, a
/// route into a stream appends what a device publishes, and an unknown kind is a 400 that names the known ones.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RouteDestinationKindTests(BrokerFixture broker) : IClassFixture<BrokerFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task PutRoute_UnknownKind_400NamingEveryRegisteredKind()
    {
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = Timeout };
        using var response = await PutJsonAsync(http, "api/routes/to-nowhere", """{"source":"a/#","destination":{"kind":"nope","name":"x"}}""");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("destination.kind 'nope' is not a known destination (available: eventSubscription, commandQueue, stream).",
            problem.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync(new Uri("api/routes/to-nowhere", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task RouteToStream_KindInAnyCase_DevicePublishIsAppendedAndKindShownAsRegistered()
    {
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = Timeout };
        var id = Guid.NewGuid().ToString("N")[..12];
        var stream = "kinds-" + id;
        var topic = $"kinds/{id}/reading";
        using (var created = await PutJsonAsync(http, $"api/streams/{stream}", """{"partitions":1}"""))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        using (var route = await PutJsonAsync(http, $"api/routes/kinds-{id}",
            $$$"""{"source":"kinds/{{{id}}}/#","destination":{"kind":"Stream","name":"{{{stream}}}"}}"""))
        {
            Assert.Equal(HttpStatusCode.Created, route.StatusCode);
            var body = await route.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("stream", body.GetProperty("destination").GetProperty("kind").GetString());
            Assert.Equal(stream, body.GetProperty("destination").GetProperty("name").GetString());
        }

        using var device = new MqttClientFactory().CreateMqttClient();
        await device.ConnectAsync(broker.CreateMqttClientOptions(TestIds.ClientId("kinds")));
        var published = await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic)
            .WithPayload("""{"v":42}""").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        Assert.True(published.IsSuccess, published.ReasonString);
        await device.DisconnectAsync();

        // The PUBACK came after the append was durable, so the record is there; wait= only covers a slow machine.
        var read = await http.GetFromJsonAsync<JsonElement>(new Uri($"api/streams/{stream}/partitions/0/records?from=start&wait=10", UriKind.Relative));
        var record = Assert.Single(read.GetProperty("records").EnumerateArray());
        Assert.Equal(topic, record.GetProperty("topic").GetString());
        Assert.Equal(42, record.GetProperty("payload").GetProperty("v").GetInt32());

        var listed = await http.GetFromJsonAsync<JsonElement>(new Uri($"api/routes/kinds-{id}", UriKind.Relative));
        Assert.Equal("stream", listed.GetProperty("destination").GetProperty("kind").GetString());
        Assert.Equal(1, listed.GetProperty("matched").GetInt64());
    }

    private static async Task<HttpResponseMessage> PutJsonAsync(HttpClient http, string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        return await http.PutAsync(new Uri(path, UriKind.Relative), content);
    }
}
