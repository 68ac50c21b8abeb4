using Iot.Routing.Hosting;
namespace Iot.Routing.IntegrationTests;

/// <summary>
/// Finding 15 of issue 16: an undrained subscription stops growing at its quota; the publisher is not refused and the
/// other subscriptions still receive everything.
/// </summary>
[Trait("Category", "Integration")]
public sealed class SubscriptionQuotaTests : IDisposable
{
    private readonly TestDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task UndrainedPull_StaysAtTheQuota_LiveWebhookGetsEverything()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await RoutingTestHost.StartAsync(_directory.Path, new Dictionary<string, string?>
        {
            ["Iot:Routing:MaxPendingEventsPerSubscription"] = "5",
        });
        await host.CreateSubscriptionAsync("""{"name":"undrained","filter":{"topicFilter":"devices/#"},"destination":{"kind":"pull"}}""");
        await host.CreateSubscriptionAsync($$$"""{"name":"live","filter":{"topicFilter":"devices/#"},"destination":{"kind":"webhook","endpointUrl":"{{{receiver.Url}}}"}}""");

        // The quota applies to every subscription: the live one keeps up (each event delivered before the next).
        for (int i = 0; i < 8; i++)
        {
            await host.PublishAsync("devices/d1/events/e", $$"""{"n":{{i}}}""");
            await Eventually.WaitUntilAsync(() => receiver.Events.Count == i + 1, "the live webhook got the event");
        }

        Assert.Equal(5, await host.PendingAsync("undrained"));
        Assert.Equal(3, host.Metrics.Read(RoutingCounter.SubscriptionFullDropped));

        // Draining makes room again; the oldest five were kept.
        var (status, received) = await host.PostJsonAsync("subscriptions/undrained/events:receive?maxEvents=2", "");
        Assert.Equal(200, status);
        var events = received.GetProperty("value").EnumerateArray().ToList();
        Assert.Equal([0, 1], events.Select(e => e.GetProperty("event").GetProperty("data").GetProperty("n").GetInt32()));
        var tokens = string.Join(",", events.Select(e => "\"" + e.GetProperty("brokerProperties").GetProperty("lockToken").GetString() + "\""));
        Assert.Equal(200, (await host.PostJsonAsync("subscriptions/undrained/events:acknowledge", $$"""{"lockTokens":[{{tokens}}]}""")).Status);
        await host.PublishAsync("devices/d1/events/e", """{"n":8}""");
        Assert.Equal(4, await host.PendingAsync("undrained"));
        Assert.Equal(3, host.Metrics.Read(RoutingCounter.SubscriptionFullDropped));
    }

    [Fact]
    public async Task Settings_OutOfRange_StopTheHost()
    {
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => RoutingTestHost.StartAsync(_directory.Path, new Dictionary<string, string?>
        {
            ["Iot:Routing:MaxPendingEventsPerSubscription"] = "0",
            ["Iot:Routing:WebhookAllowedNetworks:0"] = "not-a-network",
        }));
        Assert.Contains("Iot:Routing:MaxPendingEventsPerSubscription", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Iot:Routing:WebhookAllowedNetworks:0", ex.Message, StringComparison.Ordinal);
    }
}
