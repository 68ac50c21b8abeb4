using Iot.Routing.Hosting;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Iot.Routing.IntegrationTests;

[Trait("Category", "Integration")]
#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
public sealed class RoutingApiTests : IAsyncLifetime
#pragma warning restore CA1001
{
    private readonly TestDirectory _directory = new();
    private RoutingTestHost _host = null!;

    public async Task InitializeAsync() => _host = await RoutingTestHost.StartAsync(_directory.Path, new Dictionary<string, string?>
    {
        ["Iot:Routing:Routes:0:Name"] = "configured",
        ["Iot:Routing:Routes:0:Source"] = "config/#",
    });

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _directory.Dispose();
    }

    private async Task<(int Status, JsonElement Body, HttpResponseMessage Response)> SendAsync(HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        var response = await _host.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    [Fact]
    public async Task Routes_CreateReplaceGetListDelete()
    {
        var (status, body, response) = await SendAsync(HttpMethod.Put, "routes/hot", """
            {"source":"devices/+/telemetry","conditions":[{"operatorType":"NumberGreaterThan","key":"data.t","value":30}],"destination":{"kind":"eventSubscription"}}
            """);
        Assert.Equal(201, status);
        Assert.Equal("/api/routes/hot", response.Headers.Location?.ToString());
        Assert.Equal("api", body.GetProperty("origin").GetString());
        Assert.Equal("eventSubscription", body.GetProperty("destination").GetProperty("kind").GetString());

        (status, body, _) = await SendAsync(HttpMethod.Post, "routes", """{"name":"hot","source":"devices/#"}""");
        Assert.Equal(200, status);
        Assert.Equal("devices/#", (await _host.GetJsonAsync("routes/hot")).GetProperty("source").GetString());

        var names = (await _host.GetJsonAsync("routes")).EnumerateArray().Select(r => (r.GetProperty("name").GetString(), r.GetProperty("origin").GetString())).ToList();
        Assert.Equal([("$crossover", "builtIn"), ("$default", "builtIn"), ("configured", "configuration"), ("hot", "api")], names);

        Assert.Equal(204, (await SendAsync(HttpMethod.Delete, "routes/hot")).Status);
        Assert.Equal(404, (await SendAsync(HttpMethod.Get, "routes/hot")).Status);
    }

    [Theory]
    [InlineData("PUT", "routes/bad", """{"source":"a/#/b"}""", 400, "source 'a/#/b'")]
    [InlineData("PUT", "routes/bad", """{"conditions":[{"operatorType":"Nope","key":"data.x"}]}""", 400, "conditions[0]: Unknown operatorType")]
    [InlineData("PUT", "routes/bad", """{"destination":{"kind":"stream","name":"telemetry"}}""", 400, "destination.kind 'stream' is not a known destination (available: eventSubscription, commandQueue).")]
    [InlineData("PUT", "routes/bad", """{"destination":{"kind":"","name":"x"}}""", 400, "destination.kind is required")]
    [InlineData("PUT", "routes/bad", """{"source":""", 400, "not valid JSON")]
    [InlineData("PUT", "routes/configured", """{"source":"#"}""", 409, "Iot:Routing:Routes")]
    [InlineData("DELETE", "routes/$default", null, 409, "built in")]
    [InlineData("DELETE", "routes/none", null, 404, "no route named 'none'")]
    [InlineData("PUT", "subscriptions/bad", """{"destination":{"kind":"webhook"}}""", 400, "destination.endpointUrl")]
    [InlineData("PUT", "subscriptions/bad", """{"destination":{"kind":"pull"},"pull":{"lockDuration":"00:00:05"}}""", 400, "pull.lockDuration")]
    [InlineData("PUT", "subscriptions/bad", """{"destination":{"kind":"pull"},"retryPolicy":{"maxDeliveryAttempts":31}}""", 400, "retryPolicy.maxDeliveryAttempts")]
    [InlineData("PUT", "subscriptions/bad", """{"destination":{"kind":"mqtt","topic":"a/+"}}""", 400, "destination.topic")]
    [InlineData("GET", "subscriptions/none", null, 404, "no subscription named 'none'")]
    [InlineData("POST", "subscriptions/none/events:receive", null, 404, "no subscription")]
    public async Task InvalidRequests_ProblemDetailsWithClearDetail(string method, string path, string? json, int expectedStatus, string detail)
    {
        var (status, body, response) = await SendAsync(new HttpMethod(method), path, json);
        Assert.Equal(expectedStatus, status);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(detail, body.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostEvents_SingleAndBatch_RoutedBySubjectToPullSubscription()
    {
        await _host.CreateSubscriptionAsync("""
            {"name":"orders","filter":{"topicFilter":"orders/#","includedEventTypes":["com.example.order.created"]},"destination":{"kind":"pull"}}
            """);
        var (status, body) = await _host.PostJsonAsync("events", """
            {"specversion":"1.0","id":"o1","source":"/erp","type":"com.example.order.created","subject":"orders/1","datacontenttype":"application/json","data":{"total":5}}
            """, "application/cloudevents+json");
        Assert.Equal(200, status);
        Assert.Equal(1, body.GetProperty("accepted").GetInt32());
        (status, _) = await _host.PostJsonAsync("events", """
            [{"specversion":"1.0","id":"o2","source":"/erp","type":"com.example.order.created","subject":"orders/2"},
             {"specversion":"1.0","id":"o3","source":"/erp","type":"com.example.order.deleted","subject":"orders/3"},
             {"specversion":"1.0","id":"x1","source":"/erp","type":"com.example.order.created","subject":"other/1"}]
            """, "application/cloudevents-batch+json");
        Assert.Equal(200, status);

        var (_, received) = await _host.PostJsonAsync("subscriptions/orders/events:receive?maxEvents=10", "");
        var events = received.GetProperty("value").EnumerateArray().Select(v => v.GetProperty("event")).ToList();
        Assert.Equal(["o1", "o2"], events.Select(e => e.GetProperty("id").GetString()));
        Assert.Equal(5, events[0].GetProperty("data").GetProperty("total").GetInt32());
        Assert.Equal(4, _host.Metrics.Read(RoutingCounter.EventsPosted));
    }

    [Theory]
    [InlineData("application/cloudevents+json", """{"specversion":"1.0","source":"/x","type":"t"}""", 400)]
    [InlineData("application/cloudevents+json", """{"specversion":"1.0","id":"1","source":"/x","type":"t","subject":"a/+"}""", 400)]
    [InlineData("application/cloudevents+json", "not json", 400)]
    [InlineData("text/plain", "{}", 415)]
    public async Task PostEvents_Invalid_ProblemDetails(string contentType, string body, int expected)
    {
        var (status, problem) = await _host.PostJsonAsync("events", body, contentType);
        Assert.Equal(expected, status);
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("detail").GetString()));
    }

    [Fact]
    public async Task Pull_ReceiveAcknowledgeReleaseRejectRenew_ThroughTheApi()
    {
        await _host.CreateSubscriptionAsync("""{"name":"p","filter":{"topicFilter":"devices/+/events/#"},"destination":{"kind":"pull"}}""");
        for (int i = 0; i < 3; i++)
        {
            await _host.PublishAsync("devices/d1/events/e", $$"""{"n":{{i}}}""");
        }

        var (_, received) = await _host.PostJsonAsync("subscriptions/p/events:receive?maxEvents=3", "");
        var items = received.GetProperty("value").EnumerateArray().ToList();
        Assert.Equal(3, items.Count);
        string Token(int i) => items[i].GetProperty("brokerProperties").GetProperty("lockToken").GetString()!;
        Assert.Equal(1, items[0].GetProperty("brokerProperties").GetProperty("deliveryCount").GetInt32());

        var (status, ack) = await _host.PostJsonAsync("subscriptions/p/events:acknowledge", $$"""{"lockTokens":["{{Token(0)}}","bogus"]}""");
        Assert.Equal(200, status);
        Assert.Equal(Token(0), Assert.Single(ack.GetProperty("succeededLockTokens").EnumerateArray()).GetString());
        Assert.Equal("bogus", Assert.Single(ack.GetProperty("failedLockTokens").EnumerateArray()).GetProperty("lockToken").GetString());

        Assert.Single((await _host.PostJsonAsync("subscriptions/p/events:renewLock", $$"""{"lockTokens":["{{Token(2)}}"]}""")).Body.GetProperty("succeededLockTokens").EnumerateArray());
        Assert.Single((await _host.PostJsonAsync("subscriptions/p/events:release", $$"""{"lockTokens":["{{Token(1)}}"]}""")).Body.GetProperty("succeededLockTokens").EnumerateArray());

        var again = Assert.Single((await _host.PostJsonAsync("subscriptions/p/events:receive?maxEvents=3", "")).Body.GetProperty("value").EnumerateArray());
        Assert.Equal(1, again.GetProperty("event").GetProperty("data").GetProperty("n").GetInt32());
        Assert.Equal(2, again.GetProperty("brokerProperties").GetProperty("deliveryCount").GetInt32());

        var rejectToken = again.GetProperty("brokerProperties").GetProperty("lockToken").GetString();
        Assert.Single((await _host.PostJsonAsync("subscriptions/p/events:reject", $$"""{"lockTokens":["{{rejectToken}}"]}""")).Body.GetProperty("succeededLockTokens").EnumerateArray());
        var dead = Assert.Single((await _host.GetJsonAsync("subscriptions/p/deadletters")).GetProperty("value").EnumerateArray());
        Assert.Equal("Rejected", dead.GetProperty("reason").GetString());

        var (badStatus, _) = await _host.PostJsonAsync("subscriptions/p/events:acknowledge", """{"lockTokens":[]}""");
        Assert.Equal(400, badStatus);
    }

    [Fact]
    public async Task Pull_ReceiveWithMaxWaitTime_ReturnsWhenAnEventArrives()
    {
        await _host.CreateSubscriptionAsync("""{"name":"waiting","destination":{"kind":"pull"}}""");
        var receive = _host.PostJsonAsync("subscriptions/waiting/events:receive?maxEvents=1&maxWaitTime=30", "");
        await _host.PublishAsync("sensors/s1", "{}");
        var (status, body) = await receive.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(200, status);
        Assert.Single(body.GetProperty("value").EnumerateArray());
    }

    [Fact]
    public async Task MqttDestination_PublishesTheCloudEvent()
    {
        await _host.CreateSubscriptionAsync("""{"name":"to-mqtt","filter":{"topicFilter":"devices/+/events/#"},"destination":{"kind":"mqtt","topic":"alerts/all","qualityOfService":1}}""");
        await _host.PublishAsync("devices/d9/events/alarm", """{"x":1}""");
        var (topic, payload, qos, contentType) = Assert.Single(_host.Mqtt.Published);
        Assert.Equal(("alerts/all", (byte)1, "application/cloudevents+json"), (topic, qos, contentType));
        Assert.Equal("devices/d9/events/alarm", JsonDocument.Parse(payload).RootElement.GetProperty("subject").GetString());
    }

    [Fact]
    public async Task Subscriptions_CrudAndDefaults()
    {
        var (status, body, _) = await SendAsync(HttpMethod.Put, "subscriptions/s1", """{"destination":{"kind":"pull"}}""");
        Assert.Equal(201, status);
        Assert.Equal(30, body.GetProperty("retryPolicy").GetProperty("maxDeliveryAttempts").GetInt32());
        Assert.Equal("1.00:00:00", body.GetProperty("retryPolicy").GetProperty("eventTtl").GetString());
        Assert.Equal("00:01:00", body.GetProperty("pull").GetProperty("lockDuration").GetString());
        Assert.Equal(10, body.GetProperty("pull").GetProperty("maxDeliveryCount").GetInt32());
        Assert.True(body.GetProperty("deadLetter").GetProperty("enabled").GetBoolean());

        Assert.Equal(200, (await SendAsync(HttpMethod.Put, "subscriptions/s1", """{"destination":{"kind":"pull"},"deadLetter":{"enabled":false}}""")).Status);
        Assert.False((await _host.GetJsonAsync("subscriptions/s1")).GetProperty("deadLetter").GetProperty("enabled").GetBoolean());
        Assert.Single((await _host.GetJsonAsync("subscriptions")).EnumerateArray());
        Assert.Equal(204, (await SendAsync(HttpMethod.Delete, "subscriptions/s1")).Status);
        Assert.Equal(404, (await SendAsync(HttpMethod.Delete, "subscriptions/s1")).Status);
    }

    [Fact]
    public async Task UnroutedMessages_AreCounted()
    {
        await using var host = await RoutingTestHost.StartAsync(Path.Combine(_directory.Path, "no-default"), new Dictionary<string, string?>
        {
            ["Iot:Routing:DefaultEventRoute"] = "false",
        });
        await host.PublishAsync("sensors/s1", "{}");
        Assert.Equal(1, host.Metrics.Read(RoutingCounter.MessagesUnrouted));
        Assert.Contains(host.Metrics.Snapshot(), m => m.Key == "iot_routing_messages_unrouted_total" && m.Value == 1);
        Assert.Equal(HttpStatusCode.OK, (await host.Http.GetAsync("routes")).StatusCode);
    }
}
