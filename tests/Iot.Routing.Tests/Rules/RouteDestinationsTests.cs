using System.Text;
using Iot.Messaging;
using Iot.Routing.Hosting;
using Iot.Routing.Internal;
using Iot.Routing.Rules;
using Iot.Routing.Tests.Internal;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Routing.Tests.Rules;

/// <summary>
/// Destinations registered by name (<see cref="IRouteDestination.Kind"/>), resolved when a route is compiled: any
/// project can add one, the router hands it the message through the CloudEvents-free <see cref="IRoutedEvent"/>.
/// </summary>
#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
public sealed class RouteDestinationsTests : IAsyncLifetime
#pragma warning restore CA1001
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 10, 0, 0, TimeSpan.Zero);
    private readonly TestDirectory _directory = new();
    private SqliteRoutingStore _store = null!;

    public Task InitializeAsync()
    {
        _store = new SqliteRoutingStore(_directory.Database);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        _directory.Dispose();
    }

    [Fact]
    public void Constructor_TwoDestinationsDeclareOneKindInAnyCase_ThrowsNamingBoth()
    {
        var error = Assert.Throws<InvalidOperationException>(() =>
            new RouteDestinations([new RecordingDestination("audit"), new OtherDestination("Audit")]));
        Assert.Equal("Two route destinations declare the kind 'Audit': RecordingDestination and OtherDestination.", error.Message);
    }

    [Fact]
    public void TryFind_KindInAnyCase_FindsTheDestinationAndItsIndex()
    {
        var audit = new RecordingDestination("audit");
        var destinations = new RouteDestinations([new RecordingDestination("first"), audit]);

        Assert.True(destinations.TryFind("AUDIT", out var index, out var found));
        Assert.Equal(1, index);
        Assert.Same(audit, found);
        Assert.False(destinations.TryFind("nope", out _, out _));
        Assert.False(destinations.TryFind(null, out _, out _));
        Assert.Equal("first, audit", destinations.Available);
    }

    [Fact]
    public async Task RouteAsync_DestinationFromAnotherProject_GetsTopicPayloadPropertiesTimeAndId()
    {
        var audit = new RecordingDestination("audit");
        var (_, router) = Create([audit], Route("to-audit", "plant/#", "audit", "line-1"));

        await router.RouteAsync(new RoutedMessage
        {
            Topic = "plant/a/temperature",
            Payload = Encoding.UTF8.GetBytes("21.5"),
            ContentType = "text/plain",
            UserProperties = [new("site", "north")],
        });

        var delivered = Assert.Single(audit.Delivered);
        Assert.Equal("plant/a/temperature", delivered.Topic);
        Assert.Equal("21.5", delivered.Payload);
        Assert.Equal("text/plain", delivered.ContentType);
        Assert.Equal([new("site", "north")], delivered.UserProperties);
        Assert.Equal(Now, delivered.Time);
        Assert.True(Guid.TryParse(delivered.Id, out _), delivered.Id);
        Assert.Equal("iot.mqtt.message", delivered.Type);
        Assert.Equal(["line-1"], delivered.Targets);
    }

    [Fact]
    public async Task RouteAsync_MoreDestinationsThanTheStackHolds_EachGetsItsOwnMessages()
    {
        // Ten destinations: more than the router's on-stack slots (8), so the per-message slots come from the heap.
        var destinations = Enumerable.Range(0, 10).Select(i => new RecordingDestination($"d{i}")).ToArray();
        var routes = destinations.Select((d, i) => Route($"r{i}", $"t/{i}/#", d.Kind, "x"))
            .Append(Route("r9-again", "t/9/#", "D9", "y"))
            .ToArray();
        var (_, router) = Create(destinations, routes);

        await router.RouteAsync(new RoutedMessage { Topic = "t/9/a", Payload = Encoding.UTF8.GetBytes("{}") });
        await router.RouteAsync(new RoutedMessage { Topic = "t/0/a", Payload = Encoding.UTF8.GetBytes("{}") });

        Assert.Equal(["x", "y"], Assert.Single(destinations[9].Delivered).Targets);
        Assert.Equal("t/0/a", Assert.Single(destinations[0].Delivered).Topic);
        Assert.All(destinations[1..9], d => Assert.Empty(d.Delivered));
    }

    private (RouteTable Table, MessageRouter Router) Create(IRouteDestination[] destinations, params RouteDefinition[] configured)
    {
        var time = new FakeTimeProvider(Now);
        var table = new RouteTable(_store, destinations, configured, defaultRoute: false);
        return (table, new MessageRouter(table, new RoutingMetrics(), time));
    }

    private static RouteDefinition Route(string name, string source, string kind, string target) =>
        new() { Name = name, Source = source, Destination = new RouteTarget { Kind = kind, Name = target } };

    /// <summary>A destination as another project would write one: it sees only <see cref="IRoutedEvent"/>.</summary>
    private sealed class RecordingDestination(string kind) : IRouteDestination
    {
        public List<Delivery> Delivered { get; } = [];

        public string Kind => kind;

        public bool IsValidTarget(string? name) => name is not null;

        public Task DeliverAsync(IRoutedEvent routedEvent, IReadOnlyList<string?> targets)
        {
            // Copied during the call: the event is reused for the next message once this returns.
            Delivered.Add(new Delivery(routedEvent.Topic, Encoding.UTF8.GetString(routedEvent.Payload.Span), routedEvent.ContentType,
                [.. routedEvent.UserProperties], routedEvent.Time, routedEvent.Id, routedEvent.Type, [.. targets]));
            return Task.CompletedTask;
        }
    }

    private sealed class OtherDestination(string kind) : IRouteDestination
    {
        public string Kind => kind;

        public bool IsValidTarget(string? name) => true;

        public Task DeliverAsync(IRoutedEvent routedEvent, IReadOnlyList<string?> targets) => Task.CompletedTask;
    }

    private sealed record Delivery(string Topic, string Payload, string? ContentType, List<KeyValuePair<string, string>> UserProperties,
        DateTimeOffset Time, string Id, string Type, List<string?> Targets);
}
