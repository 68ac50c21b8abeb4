using Iot.Routing.Hosting;
using System.Text.Json;

namespace Iot.Routing.IntegrationTests;

[Trait("Category", "Integration")]
public sealed class WebhookDeliveryTests : IDisposable
{
    private readonly TestDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    private static string Webhook(string name, Uri url, string extra = "") => $$"""
        {"name":"{{name}}","destination":{"kind":"webhook","endpointUrl":"{{url}}"}{{extra}}}
        """;

    [Fact]
    public async Task DeviceEvent_TwoFilteredWebhooksAndOnePull_EachGetsWhatItsFilterSays()
    {
        await using var hot = await WebhookReceiver.StartAsync();
        await using var doors = await WebhookReceiver.StartAsync();
        await using var host = await RoutingTestHost.StartAsync(_directory.Path);
        await host.CreateSubscriptionAsync(Webhook("hot", hot.Url, """
            ,"filter":{"topicFilter":"devices/+/events/#","includedEventTypes":["iot.device.event.alarm"],
              "conditions":[{"operatorType":"NumberGreaterThan","key":"data.temperature","value":50}]}
            """));
        await host.CreateSubscriptionAsync(Webhook("doors", doors.Url, """
            ,"filter":{"topicFilter":"devices/+/events/door","conditions":[{"operatorType":"StringIn","key":"userProperties.site","values":["north"]}]}
            """));
        await host.CreateSubscriptionAsync("""{"name":"all-events","filter":{"topicFilter":"devices/+/events/#"},"destination":{"kind":"pull"}}""");

        await host.PublishAsync("devices/d1/events/alarm", """{"temperature":80}""");
        await host.PublishAsync("devices/d1/events/alarm", """{"temperature":20}""");
        await host.PublishAsync("devices/d2/events/door", """{"open":true}""", ("site", "north"));
        await host.PublishAsync("devices/d3/events/door", """{"open":true}""", ("site", "south"));
        await host.PublishAsync("devices/d1/telemetry", """{"temperature":99}""");

        await Eventually.WaitUntilAsync(() => hot.Events.Count == 1 && doors.Events.Count == 1, "each webhook got its event");
        var alarm = Assert.Single(hot.Events);
        Assert.Equal("iot.device.event.alarm", alarm.GetProperty("type").GetString());
        Assert.Equal("/iot/devices/d1", alarm.GetProperty("source").GetString());
        Assert.Equal("devices/d1/events/alarm", alarm.GetProperty("subject").GetString());
        Assert.Equal(80, alarm.GetProperty("data").GetProperty("temperature").GetInt32());
        Assert.Equal("devices/d2/events/door", Assert.Single(doors.Events).GetProperty("subject").GetString());

        var (status, received) = await host.PostJsonAsync("subscriptions/all-events/events:receive?maxEvents=10", "");
        Assert.Equal(200, status);
        var subjects = received.GetProperty("value").EnumerateArray().Select(v => v.GetProperty("event").GetProperty("subject").GetString()).ToList();
        Assert.Equal(["devices/d1/events/alarm", "devices/d1/events/alarm", "devices/d2/events/door", "devices/d3/events/door"], subjects);

        // Nothing further arrives: all deliveries are settled.
        await Eventually.WaitUntilAsync(async () => await host.PendingAsync("hot") == 0 && await host.PendingAsync("doors") == 0, "webhook deliveries settled");
        Assert.Equal(1, hot.Posts);
        Assert.Equal(1, doors.Posts);
    }

    [Fact]
    public async Task FirstDelivery_ValidationHandshake_PrecedesThePost()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await RoutingTestHost.StartAsync(_directory.Path);
        await host.CreateSubscriptionAsync(Webhook("s", receiver.Url));
        await host.PublishAsync("devices/d1/events/a", "{}");
        await host.PublishAsync("devices/d1/events/b", "{}");
        await Eventually.WaitUntilAsync(() => receiver.Events.Count == 2, "both events delivered");

        var requests = receiver.Requests.ToList();
        Assert.Equal("OPTIONS", requests[0].Method);
        Assert.Equal("iot-broker", requests[0].Origin);
        Assert.Equal(["POST", "POST"], requests.Skip(1).Select(r => r.Method));
        Assert.StartsWith("application/cloudevents+json", requests[1].ContentType, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ValidationRefused_NothingPosted_UntilTheEndpointAllowsIt()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.AllowValidation = false;
        await using var host = await RoutingTestHost.StartAsync(_directory.Path);
        await host.CreateSubscriptionAsync(Webhook("s", receiver.Url));
        await host.PublishAsync("devices/d1/events/a", "{}");

        await Eventually.WaitUntilAsync(() => receiver.Requests.Count(r => r.Method == "OPTIONS") >= 2, "the handshake was retried");
        Assert.Equal(0, receiver.Posts);
        Assert.Equal(1, await host.PendingAsync("s"));

        receiver.AllowValidation = true;
        await Eventually.WaitUntilAsync(() => receiver.Events.Count == 1, "delivered after the endpoint allowed it");
    }

    [Fact]
    public async Task Endpoint500s_RetriedOnTheSchedule_ThenDelivered()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.StatusFor = n => n <= 2 ? 500 : 200;
        await using var host = await RoutingTestHost.StartAsync(_directory.Path);
        await host.CreateSubscriptionAsync(Webhook("s", receiver.Url));
        await host.PublishAsync("devices/d1/events/a", """{"n":1}""");

        await Eventually.WaitUntilAsync(() => receiver.Events.Count == 1, "delivered on the third attempt");
        Assert.Equal(["1", "2", "3"], receiver.Requests.Where(r => r.Method == "POST").Select(r => r.Attempt));
        await Eventually.WaitUntilAsync(async () => await host.PendingAsync("s") == 0, "the delivery is settled");
        Assert.Equal(2, host.Metrics.Read(RoutingCounter.DeliveryAttemptsFailed));
    }

    [Fact]
    public async Task EndpointDownThenBack_EventsDelivered()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await RoutingTestHost.StartAsync(_directory.Path);
        await host.CreateSubscriptionAsync(Webhook("s", receiver.Url));
        await receiver.StopAsync();

        for (int i = 0; i < 5; i++)
        {
            await host.PublishAsync("devices/d1/events/a", $$"""{"n":{{i}}}""");
        }

        await Eventually.WaitUntilAsync(() => host.Metrics.Read(RoutingCounter.DeliveryAttemptsFailed) >= 2, "attempts failed while the endpoint was down");
        Assert.Equal(5, await host.PendingAsync("s"));

        await receiver.RestartAsync();
        await Eventually.WaitUntilAsync(() => receiver.Events.Count == 5, "all events delivered once the endpoint is back");
        Assert.Equal([0, 1, 2, 3, 4], receiver.Events.Select(e => e.GetProperty("data").GetProperty("n").GetInt32()).Order());
    }

    [Fact]
    public async Task SlowEndpoint_TimesOutAndRetries_WithoutStallingOtherSubscriptions()
    {
        await using var slow = await WebhookReceiver.StartAsync();
        slow.DelayFor = n => n == 1 ? TimeSpan.FromSeconds(30) : TimeSpan.Zero;
        await using var fast = await WebhookReceiver.StartAsync();
        await using var host = await RoutingTestHost.StartAsync(_directory.Path, new Dictionary<string, string?>
        {
            ["Iot:Routing:WebhookTimeout"] = "00:00:01",
        });
        await host.CreateSubscriptionAsync(Webhook("slow", slow.Url));
        await host.CreateSubscriptionAsync(Webhook("fast", fast.Url));

        await host.PublishAsync("devices/d1/events/a", "{}");
        await Eventually.WaitUntilAsync(() => slow.Posts == 1 && fast.Events.Count == 1, "the fast endpoint got its event while the slow one hangs");
        await host.PublishAsync("devices/d1/events/b", "{}");
        await Eventually.WaitUntilAsync(() => fast.Events.Count == 2, "the fast endpoint is still served");

        await Eventually.WaitUntilAsync(() => slow.Events.Count == 2, "the slow endpoint got both after the timeout and retry");
        Assert.Contains(slow.Requests, r => r.Method == "POST" && r.Attempt == "2");
    }

    [Fact]
    public async Task Endpoint400_DeadLettered_ThenRedeliveredThroughTheApi()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.StatusFor = _ => 400;
        await using var host = await RoutingTestHost.StartAsync(_directory.Path);
        await host.CreateSubscriptionAsync(Webhook("s", receiver.Url));
        await host.PublishAsync("devices/d1/events/a", """{"v":7}""");

        await Eventually.WaitUntilAsync(async () => (await host.GetJsonAsync("subscriptions/s")).GetProperty("deadLetteredEvents").GetInt64() == 1, "dead-lettered");
        Assert.Equal(1, receiver.Posts);
        var dead = Assert.Single((await host.GetJsonAsync("subscriptions/s/deadletters")).GetProperty("value").EnumerateArray());
        Assert.Equal("DestinationRejected", dead.GetProperty("reason").GetString());
        Assert.Equal("HTTP 400", dead.GetProperty("lastOutcome").GetString());
        Assert.Equal(1, dead.GetProperty("deliveryAttempts").GetInt32());
        Assert.Equal(7, dead.GetProperty("event").GetProperty("data").GetProperty("v").GetInt32());

        receiver.StatusFor = _ => 200;
        var (status, body) = await host.PostJsonAsync("subscriptions/s/deadletters:redeliver", "{}");
        Assert.Equal(200, status);
        Assert.Equal(1, body.GetProperty("redelivered").GetInt32());
        await Eventually.WaitUntilAsync(() => receiver.Events.Count == 1, "redelivered");
    }

    [Fact]
    public async Task MaxDeliveryAttempts_Exhausted_DeadLetteredWithLastOutcome()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.StatusFor = _ => 503;
        await using var host = await RoutingTestHost.StartAsync(_directory.Path);
        await host.CreateSubscriptionAsync(Webhook("s", receiver.Url, ""","retryPolicy":{"maxDeliveryAttempts":3}"""));
        await host.PublishAsync("devices/d1/events/a", "{}");

        await Eventually.WaitUntilAsync(async () => (await host.GetJsonAsync("subscriptions/s")).GetProperty("deadLetteredEvents").GetInt64() == 1, "dead-lettered");
        var dead = Assert.Single((await host.GetJsonAsync("subscriptions/s/deadletters")).GetProperty("value").EnumerateArray());
        Assert.Equal("MaxDeliveryAttemptsExceeded", dead.GetProperty("reason").GetString());
        Assert.Equal(3, dead.GetProperty("deliveryAttempts").GetInt32());
        Assert.Equal("HTTP 503", dead.GetProperty("lastOutcome").GetString());
        Assert.Equal(3, receiver.Posts);
    }

    [Fact]
    public async Task Batching_SendsCloudEventsBatches()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.StatusFor = n => n == 1 ? 500 : 200;
        await using var host = await RoutingTestHost.StartAsync(_directory.Path);
        await host.CreateSubscriptionAsync(Webhook("s", receiver.Url, ""","batching":{"maxEventsPerBatch":10}"""));
        for (int i = 0; i < 4; i++)
        {
            await host.PublishAsync("devices/d1/events/a", $$"""{"n":{{i}}}""");
        }

        await Eventually.WaitUntilAsync(() => receiver.Events.Count == 4, "all events delivered");
        var posts = receiver.Requests.Where(r => r.Method == "POST").ToList();
        Assert.All(posts, p => Assert.StartsWith("application/cloudevents-batch+json", p.ContentType, StringComparison.Ordinal));
        Assert.Equal(JsonValueKind.Array, JsonDocument.Parse(posts[^1].Body).RootElement.ValueKind);
    }

    [Fact]
    public async Task Restart_PendingDeliveries_ResumeAfterRestart()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.StatusFor = _ => 503;
        await using (var host = await RoutingTestHost.StartAsync(_directory.Path))
        {
            await host.CreateSubscriptionAsync(Webhook("s", receiver.Url));
            for (int i = 0; i < 3; i++)
            {
                await host.PublishAsync("devices/d1/events/a", $$"""{"n":{{i}}}""");
            }

            await Eventually.WaitUntilAsync(() => receiver.Posts >= 1, "a delivery was attempted before the restart");
        }

        receiver.StatusFor = _ => 200;
        await using var restarted = await RoutingTestHost.StartAsync(_directory.Path);
        await Eventually.WaitUntilAsync(() => receiver.Events.Count == 3, "all pending events delivered after the restart");
        Assert.Equal([0, 1, 2], receiver.Events.Select(e => e.GetProperty("data").GetProperty("n").GetInt32()).Order());
        Assert.Equal(0, await restarted.PendingAsync("s"));
    }
}
