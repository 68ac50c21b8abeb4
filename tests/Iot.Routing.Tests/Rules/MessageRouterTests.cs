using System.Text;
using System.Text.Json;
using Iot.Messaging;
using Iot.Routing.Hosting;
using Iot.Routing.Internal;
using Iot.Routing.Rules;
using Iot.Routing.Subscriptions;
using Iot.Routing.Tests.Internal;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Routing.Tests.Rules;

#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
public sealed class MessageRouterTests : IAsyncLifetime
#pragma warning restore CA1001
{
    private readonly TestDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
    private readonly RoutingMetrics _metrics = new();
    private SqliteRoutingStore _store = null!;
    private EventSubscriptionRegistry _registry = null!;

    public Task InitializeAsync()
    {
        _store = new SqliteRoutingStore(_directory.Database);
        _registry = new EventSubscriptionRegistry(_store);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        _registry.Dispose();
        await _store.DisposeAsync();
        _directory.Dispose();
    }

    private (RouteTable Table, MessageRouter Router) Create(bool defaultRoute, params RouteDefinition[] configured)
    {
        var destination = new EventSubscriptionDestination(_registry, _store, new DeliverySignals(), _metrics, _time,
            new ServiceCollection().BuildServiceProvider(), NullLogger<EventSubscriptionDestination>.Instance);
        var table = new RouteTable(_store, [destination], configured, defaultRoute);
        return (table, new MessageRouter(table, _metrics, _time));
    }

    private static RoutedMessage Message(string topic, string payload = "{}") =>
        new() { Topic = topic, Payload = Encoding.UTF8.GetBytes(payload), QualityOfService = 1, SourceClientId = "d1" };

    private static RouteDefinition Route(string name, string source, string? condition = null) => new()
    {
        Name = name,
        Source = source,
        Conditions = condition is null ? null : [JsonSerializer.Deserialize<EventCondition>(condition, RoutingJson.Options)!],
    };

    private Task<(ChangeOutcome Outcome, string? Error)> SubscribeAsync(string name, string topicFilter) => _registry.UpsertAsync(new EventSubscriptionDefinition
    {
        Name = name,
        Filter = new EventSubscriptionFilter { TopicFilter = topicFilter },
        Destination = new EventSubscriptionEndpoint { Kind = EventDeliveryKind.Pull },
    });

    [Fact]
    public async Task RouteAsync_EventsOfSuccessiveMessages_ShareNothing()
    {
        // One event object is reused per thread (RoutedEvent.RentForMessage): nothing of a message may show in the next.
        var (_, router) = Create(defaultRoute: false, Route("hot", "devices/#", """{"operatorType":"NumberGreaterThan","key":"data.t","value":30}"""));
        await SubscribeAsync("s1", "#");
        await router.RouteAsync(Message("devices/d1/telemetry", """{"t":40}"""));
        await router.RouteAsync(Message("devices/d2/telemetry", "not json")); // no data: the condition must not see t=40
        await router.RouteAsync(Message("devices/d3/events/alarm", """{"t":50}"""));
        await router.RouteAsync(Message("devices/d4/telemetry", """{"t":10}"""));

        var received = await _store.ReceiveAsync("s1", 10, _time.GetUtcNow().ToUnixTimeMilliseconds(), 60_000, 10, deadLetter: true);
        Assert.Equal(2, received.Count);
        var events = received.Select(r => JsonDocument.Parse(r.Event).RootElement).ToList();
        Assert.Equal(["devices/d1/telemetry", "devices/d3/events/alarm"], events.Select(e => e.GetProperty("subject").GetString()));
        Assert.Equal(["iot.device.telemetry", "iot.device.event.alarm"], events.Select(e => e.GetProperty("type").GetString()));
        Assert.Equal(["/iot/devices/d1", "/iot/devices/d3"], events.Select(e => e.GetProperty("source").GetString()));
        Assert.Equal([40, 50], events.Select(e => e.GetProperty("data").GetProperty("t").GetInt32()));
        Assert.NotEqual(events[0].GetProperty("id").GetString(), events[1].GetProperty("id").GetString());
        Assert.Equal(received.Select(r => r.EventId), events.Select(e => e.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task RouteAsync_NoRouteMatches_CountedAsUnroutedAndCompletesAtOnce()
    {
        var (_, router) = Create(defaultRoute: false, Route("alarms", "devices/+/events/#"));
        var task = router.RouteAsync(Message("devices/d1/telemetry"));
        Assert.True(task.IsCompletedSuccessfully);
        Assert.Equal(1, _metrics.Read(RoutingCounter.MessagesUnrouted));
        await router.RouteAsync(Message("devices/d1/events/alarm"));
        Assert.Equal(1, _metrics.Read(RoutingCounter.MessagesRouted));
        Assert.Equal(1, _metrics.Read(RoutingCounter.EventsUnmatched));
    }

    [Fact]
    public async Task RouteAsync_ConditionFails_CountedAsUnrouted()
    {
        var (_, router) = Create(defaultRoute: false, Route("hot", "devices/+/telemetry", """{"operatorType":"NumberGreaterThan","key":"data.t","value":30}"""));
        await SubscribeAsync("s1", "#");
        await router.RouteAsync(Message("devices/d1/telemetry", """{"t":20}"""));
        await router.RouteAsync(Message("devices/d1/telemetry", """{"t":40}"""));
        Assert.Equal((1L, 1L), (_metrics.Read(RoutingCounter.MessagesUnrouted), _metrics.Read(RoutingCounter.MessagesRouted)));
        Assert.Equal((1L, 0L), await _store.CountAsync("s1"));
    }

    [Fact]
    public async Task RouteAsync_SeveralRoutesToAllSubscriptions_OneDeliveryPerSubscription()
    {
        var (_, router) = Create(defaultRoute: true, Route("events", "devices/+/events/#"));
        await SubscribeAsync("s1", "devices/+/events/#");
        await SubscribeAsync("s2", "devices/d2/#");
        await router.RouteAsync(Message("devices/d1/events/alarm"));
        Assert.Equal((1L, 0L), await _store.CountAsync("s1"));
        Assert.Equal((0L, 0L), await _store.CountAsync("s2"));
    }

    [Fact]
    public async Task RouteAsync_RouteToNamedSubscription_OnlyThatOne()
    {
        var (table, router) = Create(defaultRoute: false);
        await SubscribeAsync("s1", "#");
        await SubscribeAsync("s2", "#");
        var (outcome, error) = await table.UpsertAsync(new RouteDefinition
        {
            Name = "to-s2",
            Source = "sensors/#",
            Destination = new RouteTarget { Kind = EventSubscriptionDestination.DestinationKind, Name = "s2" },
        });
        Assert.True(outcome == ChangeOutcome.Created, error);
        await router.RouteAsync(Message("sensors/1"));
        Assert.Equal((0L, 0L), await _store.CountAsync("s1"));
        Assert.Equal((1L, 0L), await _store.CountAsync("s2"));
    }

    [Fact]
    public async Task UpsertAsync_ApiRoute_TakesEffectAtOnceAndSurvivesReopen()
    {
        var (table, router) = Create(defaultRoute: false);
        Assert.True(router.RouteAsync(Message("a/b")).IsCompletedSuccessfully);
        Assert.Equal(ChangeOutcome.Created, (await table.UpsertAsync(Route("ab", "a/#"))).Outcome);
        await router.RouteAsync(Message("a/b"));
        Assert.Equal(1, _metrics.Read(RoutingCounter.MessagesRouted));
        Assert.Equal(ChangeOutcome.Replaced, (await table.UpsertAsync(Route("ab", "x/#"))).Outcome);

        var (reopened, _) = Create(defaultRoute: false);
        Assert.True(reopened.TryGet("ab", out var route));
        Assert.Equal("x/#", route.Definition.Source);
        Assert.Equal(ChangeOutcome.Deleted, (await reopened.DeleteAsync("ab")).Outcome);
        Assert.Equal(ChangeOutcome.NotFound, (await reopened.DeleteAsync("ab")).Outcome);
    }

    [Fact]
    public async Task UpsertAsync_BuiltInOrConfigured_IsReadOnly()
    {
        var (table, _) = Create(defaultRoute: true, Route("from-config", "a/#"));
        Assert.Equal(ChangeOutcome.ReadOnly, (await table.UpsertAsync(Route("from-config", "b/#"))).Outcome);
        Assert.Equal(ChangeOutcome.ReadOnly, (await table.DeleteAsync(RouteTable.DefaultRouteName)).Outcome);
        Assert.Equal(ChangeOutcome.Invalid, (await table.UpsertAsync(Route("$mine", "a/#"))).Outcome);
    }

    [Theory]
    [InlineData("bad name", "#", "name")]
    [InlineData("ok", "a/#/b", "source")]
    [InlineData("ok", "$share/g/a", "source")]
    public async Task UpsertAsync_Invalid_NamesTheField(string name, string source, string field)
    {
        var (table, _) = Create(defaultRoute: false);
        var (outcome, error) = await table.UpsertAsync(Route(name, source));
        Assert.Equal(ChangeOutcome.Invalid, outcome);
        Assert.StartsWith(field, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UpsertAsync_DestinationKindNotRegistered_InvalidNamingTheAvailableKinds()
    {
        var (table, _) = Create(defaultRoute: false);
        var route = Route("q", "#");
        route.Destination = new RouteTarget { Kind = "commandQueue", Name = "q1" };
        var (outcome, error) = await table.UpsertAsync(route);
        Assert.Equal(ChangeOutcome.Invalid, outcome);
        Assert.Equal("destination.kind 'commandQueue' is not a known destination (available: eventSubscription).", error);
        Assert.False(table.TryGet("q", out _));
    }

    [Fact]
    public async Task UpsertAsync_DestinationKindInAnyCase_StoredAsTheDestinationSpellsIt()
    {
        var (table, _) = Create(defaultRoute: false);
        var route = Route("any-case", "#");
        route.Destination = new RouteTarget { Kind = "EVENTSUBSCRIPTION" };
        Assert.Equal(ChangeOutcome.Created, (await table.UpsertAsync(route)).Outcome);

        var (reopened, _) = Create(defaultRoute: false);
        Assert.True(reopened.TryGet("any-case", out var stored));
        Assert.Equal("eventSubscription", stored.Definition.Destination.Kind);
    }

    [Fact]
    public async Task Constructor_RoutesStoredWhenKindsWereAnEnum_LoadAndRoute()
    {
        // Rows as the enum-based RouteTarget.Kind wrote them (camelCase strings), and one written in another case.
        await _store.SaveDefinitionAsync("routes", "stored", """{"name":"stored","source":"a/#","destination":{"kind":"eventSubscription","name":"s1"},"enabled":true}""");
        await _store.SaveDefinitionAsync("routes", "pascal", """{"name":"pascal","source":"b/#","destination":{"kind":"EventSubscription"},"enabled":true}""");
        await _store.SaveDefinitionAsync("routes", "gone", """{"name":"gone","source":"c/#","destination":{"kind":"stream","name":"t"},"enabled":true}""");
        await SubscribeAsync("s1", "#");

        var (table, router) = Create(defaultRoute: false);
        Assert.True(table.TryGet("stored", out var stored));
        Assert.Equal("eventSubscription", stored.Definition.Destination.Kind);
        Assert.True(table.TryGet("pascal", out var pascal));
        Assert.Equal("eventSubscription", pascal.Definition.Destination.Kind);
        // A kind no destination serves here (Streams not registered) costs that route only, with the reason logged.
        Assert.False(table.TryGet("gone", out _));
        Assert.Contains(_store.SkippedDefinitions, s => s.Name == "gone" && s.Reason.Contains("destination.kind 'stream'", StringComparison.Ordinal));

        await router.RouteAsync(Message("a/1"));
        Assert.Equal((1L, 0L), await _store.CountAsync("s1"));
    }

    [Fact]
    public void ReadConfiguredRoutes_FromConfiguration_BindsArraysAndStringValues()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Iot:Routing:Routes:0:Name"] = "hot",
            ["Iot:Routing:Routes:0:Source"] = "devices/+/telemetry",
            ["Iot:Routing:Routes:0:Conditions:0:OperatorType"] = "NumberInRange",
            ["Iot:Routing:Routes:0:Conditions:0:Key"] = "data.t",
            ["Iot:Routing:Routes:0:Conditions:0:Values:0:0"] = "30",
            ["Iot:Routing:Routes:0:Conditions:0:Values:0:1"] = "40",
            ["Iot:Routing:Routes:0:Destination:Kind"] = "EventSubscription",
            ["Iot:Routing:Routes:0:Destination:Name"] = "s1",
        }).Build();
        var routes = IotRoutingServiceCollectionExtensions.ReadConfiguredRoutes(configuration);
        var (table, _) = Create(defaultRoute: false, [.. routes]);
        Assert.True(table.TryGet("hot", out var route));
        Assert.Equal("s1", route.Definition.Destination.Name);
        Assert.Equal("eventSubscription", route.Definition.Destination.Kind);
        Assert.True(table.IsReadOnly("hot"));
    }

    [Fact]
    public void Constructor_InvalidConfiguredRoute_ThrowsNamingTheSetting()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Create(defaultRoute: false, Route("ok", "a/+b")));
        Assert.StartsWith("Iot:Routing:Routes:0: source", error.Message, StringComparison.Ordinal);
    }
}
