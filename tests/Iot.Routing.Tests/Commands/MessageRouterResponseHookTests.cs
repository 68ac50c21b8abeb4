using System.Text;
using Iot.Messaging;
using Iot.Routing.Commands;
using Iot.Routing.Hosting;
using Iot.Routing.Internal;
using Iot.Routing.Rules;
using Iot.Routing.Subscriptions;
using Iot.Routing.Tests.Internal;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Routing.Tests.Commands;

#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
public sealed class MessageRouterResponseHookTests : IAsyncLifetime
#pragma warning restore CA1001
{
    private readonly TestDirectory _directory = new();
    private readonly FakeTimeProvider _time = new();
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

    private MessageRouter Create(ICommandResponseObserver observer)
    {
        var metrics = new RoutingMetrics();
        var destination = new EventSubscriptionDestination(_registry, _store, new DeliverySignals(), metrics, _time,
            new ServiceCollection().BuildServiceProvider(), NullLogger<EventSubscriptionDestination>.Instance);
        var table = new RouteTable(_store, [destination], [], defaultRoute: true);
        return new MessageRouter(table, metrics, _time, observer);
    }

    [Fact]
    public async Task RouteAsync_Response_AcknowledgedOnlyAfterObserverRecordedIt()
    {
        var observer = new GatedObserver();
        var router = Create(observer);
        var routed = router.RouteAsync(new RoutedMessage { Topic = "devices/d1/responses/c1", Payload = Encoding.UTF8.GetBytes("{}"), QualityOfService = 1 });
        Assert.Equal("devices/d1/responses/c1", Assert.Single(observer.Seen));
        Assert.False(routed.IsCompleted);

        observer.Recorded.SetResult();
        await routed.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task RouteAsync_OtherTopic_ObserverNotInvolved()
    {
        var observer = new GatedObserver();
        var router = Create(observer);
        await router.RouteAsync(new RoutedMessage { Topic = "devices/d1/telemetry", Payload = Encoding.UTF8.GetBytes("{}"), QualityOfService = 1 })
            .WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Empty(observer.Seen);
    }

    private sealed class GatedObserver : ICommandResponseObserver
    {
        public List<string> Seen { get; } = [];

        public TaskCompletionSource Recorded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task? Observe(IRoutedMessage message)
        {
            if (!CommandService.TryParseResponseTopic(message.Topic, out _, out _))
            {
                return null;
            }

            Seen.Add(message.Topic);
            return Recorded.Task;
        }
    }
}
