using Iot.Routing.Hosting;
namespace Iot.Routing.IntegrationTests;

/// <summary>
/// Issue 16 (finding 15's other half): a webhook that is down turns its pending events into dead letters, which have
/// no expiry; <c>Iot:Routing:MaxDeadLetteredEventsPerSubscription</c> bounds them, keeping the newest.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DeadLetterCapTests : IDisposable
{
    private readonly TestDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task FailingWebhook_KeepsTheNewestDeadLettersUpToTheCap()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.StatusFor = _ => 500;
        await using var host = await RoutingTestHost.StartAsync(_directory.Path, new Dictionary<string, string?>
        {
            ["Iot:Routing:MaxDeadLetteredEventsPerSubscription"] = "3",
        });
        await host.CreateSubscriptionAsync($$$"""{"name":"down","filter":{"topicFilter":"devices/#"},"destination":{"kind":"webhook","endpointUrl":"{{{receiver.Url}}}"},"retryPolicy":{"maxDeliveryAttempts":1}}""");
        await host.CreateSubscriptionAsync("""{"name":"other","filter":{"topicFilter":"devices/#"},"destination":{"kind":"pull"},"pull":{"maxDeliveryCount":1}}""");

        for (int i = 0; i < 8; i++)
        {
            await host.PublishAsync("devices/d1/events/e", $$"""{"n":{{i}}}""");
        }

        await Eventually.WaitUntilAsync(() => host.Metrics.Read(RoutingCounter.DeadLettered) == 8, "every event was dead-lettered");

        var dead = (await host.GetJsonAsync("subscriptions/down/deadletters?maxEvents=100")).GetProperty("value").EnumerateArray().ToList();
        Assert.Equal([5, 6, 7], dead.Select(d => d.GetProperty("event").GetProperty("data").GetProperty("n").GetInt32()));
        Assert.All(dead, d => Assert.Equal("MaxDeliveryAttemptsExceeded", d.GetProperty("reason").GetString()));
        Assert.Equal(3, (await host.GetJsonAsync("subscriptions/down")).GetProperty("deadLetteredEvents").GetInt64());
        Assert.Equal(5, host.Metrics.Read(RoutingCounter.DeadLettersEvicted));
        Assert.Contains(host.Metrics.Snapshot(), m => m.Key == "iot_routing_dead_letters_evicted_total" && m.Value == 5);

        // Another subscription's events are its own: the pull subscription still holds all eight, pending.
        Assert.Equal(8, await host.PendingAsync("other"));
    }

    [Fact]
    public async Task Setting_OutOfRange_StopsTheHost()
    {
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => RoutingTestHost.StartAsync(_directory.Path, new Dictionary<string, string?>
        {
            ["Iot:Routing:MaxDeadLetteredEventsPerSubscription"] = "0",
        }));
        Assert.Contains("Iot:Routing:MaxDeadLetteredEventsPerSubscription", ex.Message, StringComparison.Ordinal);
    }
}
