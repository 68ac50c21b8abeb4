using System.Text.Json;
using System.Text.Json.Nodes;
using Iot.Messaging.Crossover;
using Iot.Routing.Crossover;
using Iot.Routing.Hosting;
using Iot.Routing.Internal;
using Iot.Routing.Rules;
using Iot.Routing.Subscriptions;
using Iot.Routing.Tests.Internal;
using Iot.TestUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Routing.Tests.Crossover;

/// <summary>The publisher routes raised events like posted CloudEvents (built-in route <c>$crossover</c>), never waits, and drops and counts when full.</summary>
#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
public sealed class CrossoverPublisherTests : IAsyncLifetime
#pragma warning restore CA1001
{
    private readonly TestDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 7, 12, 0, 0, TimeSpan.Zero));
    private readonly RoutingMetrics _metrics = new();
    private SqliteRoutingStore _store = null!;
    private EventSubscriptionRegistry _registry = null!;
    private MessageRouter _router = null!;

    public Task InitializeAsync()
    {
        _store = new SqliteRoutingStore(_directory.Database);
        _registry = new EventSubscriptionRegistry(_store);
        var destination = new EventSubscriptionDestination(_registry, _store, new DeliverySignals(), _metrics, _time,
            new ServiceCollection().BuildServiceProvider(), NullLogger<EventSubscriptionDestination>.Instance);
        _router = new MessageRouter(new RouteTable(_store, [destination], [], defaultRoute: true), _metrics, _time);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _registry.Dispose();
        await _store.DisposeAsync();
        _directory.Dispose();
    }

    [Fact]
    public async Task TryRaise_RoutedToSubscriptionsThatAskForIt_NotToHashSubscriptions()
    {
        await SubscribeAsync("ops", "$iot/#", CrossoverTypes.DeviceDisconnected);
        await SubscribeAsync("everything", "#", null);
        await using var publisher = Create(maxPending: 16);
        await publisher.StartAsync(CancellationToken.None);

        Assert.True(publisher.TryRaise(Event(CrossoverTypes.DeviceConnected, "$iot/devices/d1")));
        Assert.True(publisher.TryRaise(Event(CrossoverTypes.DeviceDisconnected, "$iot/devices/d1")));
        await Eventually.WaitUntilAsync(() => _metrics.Read(RoutingCounter.CrossoverPublished) == 2, TimeSpan.FromSeconds(20), "both events published");

        var received = await _store.ReceiveAsync("ops", 10, _time.GetUtcNow().ToUnixTimeMilliseconds(), 60_000, 10, deadLetter: true);
        var cloudEvent = JsonDocument.Parse(Assert.Single(received).Event).RootElement;
        Assert.Equal(CrossoverTypes.DeviceDisconnected, cloudEvent.GetProperty("type").GetString());
        Assert.Equal("$iot/devices/d1", cloudEvent.GetProperty("subject").GetString());
        Assert.Equal("/iot/mqtt", cloudEvent.GetProperty("source").GetString());
        Assert.Equal("d1", cloudEvent.GetProperty("data").GetProperty("clientId").GetString());
        Assert.Equal((0L, 0L), await _store.CountAsync("everything"));
    }

    [Fact]
    public async Task TryRaise_QueueFull_DropsAndCountsWithoutWaiting()
    {
        // Not started: nothing drains the queue.
        await using var publisher = Create(maxPending: 16);
        for (int i = 0; i < 16; i++)
        {
            Assert.True(publisher.TryRaise(Event(CrossoverTypes.DeviceConnected, "$iot/devices/d" + i)));
        }

        Assert.False(publisher.TryRaise(Event(CrossoverTypes.DeviceConnected, "$iot/devices/late")));
        Assert.Equal((16L, 1L), (_metrics.Read(RoutingCounter.CrossoverRaised), _metrics.Read(RoutingCounter.CrossoverDropped)));
    }

    [Fact]
    public async Task StoppedAsync_RoutesWhatIsQueuedThenDropsLateEvents()
    {
        await SubscribeAsync("ops", "$iot/#", null);
        await using var publisher = Create(maxPending: 16);
        publisher.TryRaise(Event(CrossoverTypes.DeviceConnected, "$iot/devices/d1"));
        await publisher.StartAsync(CancellationToken.None);
        await publisher.StoppedAsync(CancellationToken.None);
        Assert.Equal((1L, 0L), await _store.CountAsync("ops"));
        Assert.False(publisher.TryRaise(Event(CrossoverTypes.DeviceConnected, "$iot/devices/d2")));
    }

    [Fact]
    public async Task TryRaise_Disabled_NothingQueued()
    {
        await using var publisher = Create(maxPending: 16, enabled: false);
        Assert.False(publisher.IsEnabled);
        Assert.False(publisher.TryRaise(Event(CrossoverTypes.DeviceConnected, "$iot/devices/d1")));
        Assert.Equal(0, _metrics.Read(RoutingCounter.CrossoverRaised));
    }

    private CrossoverPublisher Create(int maxPending, bool enabled = true) =>
        new(Options.Create(new CrossoverOptions { MaxPendingEvents = maxPending, Enabled = enabled }), () => _router, _metrics,
            NullLogger<CrossoverPublisher>.Instance);

    private CrossoverEvent Event(string type, string subject) =>
        new(type, "/iot/mqtt", subject, new JsonObject { ["clientId"] = subject[(subject.LastIndexOf('/') + 1)..] }, _time.GetUtcNow());

    private async Task SubscribeAsync(string name, string topicFilter, string? type)
    {
        var (outcome, error) = await _registry.UpsertAsync(new EventSubscriptionDefinition
        {
            Name = name,
            Filter = new EventSubscriptionFilter { TopicFilter = topicFilter, IncludedEventTypes = type is null ? null : [type] },
            Destination = new EventSubscriptionEndpoint { Kind = EventDeliveryKind.Pull },
        });
        Assert.True(outcome == ChangeOutcome.Created, error);
    }
}
