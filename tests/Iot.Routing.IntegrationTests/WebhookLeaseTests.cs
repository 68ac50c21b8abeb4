using System.Collections.Concurrent;
using Iot.Messaging.Leases;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Routing.IntegrationTests;

/// <summary>
/// A webhook subscription's delivery loop is a singleton: it delivers only while its lease (<c>webhooks.{name}</c>) is
/// held, stops when the lease is lost, and the pending deliveries go out when it is held again. The leases are granted by
/// hand, as the cluster's would be when another node dies.
/// </summary>
[Trait("Category", "Integration")]
public sealed class WebhookLeaseTests : IDisposable
{
    private readonly TestDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task DeliveryLoop_RunsOnlyWhileItsLeaseIsHeld_PendingEventsGoOutWhenHeldAgain()
    {
        var leases = new ManualLeases();
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var host = await RoutingTestHost.StartAsync(_directory.Path, services: s => s.AddSingleton<ISingletonLeases>(leases));
        await host.CreateSubscriptionAsync($$$"""{"name":"s","destination":{"kind":"webhook","endpointUrl":"{{{receiver.Url}}}"}}""");
        await Eventually.WaitUntilAsync(() => leases.Waiting.ContainsKey("webhooks.s"), "the loop waits for its lease");

        // Held elsewhere: the event waits in the store, nothing is sent.
        await host.PublishAsync("devices/d1/events/a", "{}");
        Assert.Equal(1, await host.PendingAsync("s"));
        Assert.Empty(receiver.Requests);

        var lease = leases.Grant("webhooks.s");
        await Eventually.WaitUntilAsync(() => receiver.Events.Count == 1, "delivered once the lease is held");
        await Eventually.WaitUntilAsync(async () => await host.PendingAsync("s") == 0, "settled");

        // Lost: the loop stops and waits for the lease again; a new event is not sent by this node.
        lease.Lose();
        await Eventually.WaitUntilAsync(() => leases.Waiting.ContainsKey("webhooks.s"), "the loop stopped and waits again");
        await host.PublishAsync("devices/d1/events/b", "{}");
        Assert.Equal(1, await host.PendingAsync("s"));
        Assert.Single(receiver.Events);

        leases.Grant("webhooks.s");
        await Eventually.WaitUntilAsync(() => receiver.Events.Count == 2, "the pending event goes out when the lease is held again");
    }

    /// <summary>Leases granted by the test: <see cref="AcquireAsync"/> waits until <see cref="Grant"/>.</summary>
    private sealed class ManualLeases : ISingletonLeases
    {
        public ConcurrentDictionary<string, TaskCompletionSource<ISingletonLease>> Waiting { get; } = new(StringComparer.Ordinal);

        public bool IsClustered => true;

        public ManualLease Grant(string name)
        {
            var lease = new ManualLease(name);
            Assert.True(Waiting.TryRemove(name, out var waiter), name + " was not waiting");
            waiter.SetResult(lease);
            return lease;
        }

        public ValueTask<ISingletonLease?> TryAcquireAsync(string name, CancellationToken cancellationToken = default) => new((ISingletonLease?)null);

        public Task<ISingletonLease> AcquireAsync(string name, CancellationToken cancellationToken)
        {
            var waiter = new TaskCompletionSource<ISingletonLease>(TaskCreationOptions.RunContinuationsAsynchronously);
            Assert.True(Waiting.TryAdd(name, waiter), name + " asked twice at once");
            return waiter.Task.WaitAsync(cancellationToken);
        }
    }

    private sealed class ManualLease(string name) : ISingletonLease
    {
        private readonly CancellationTokenSource _lost = new();

        public string Name => name;

        public long FencingToken => 1;

        public CancellationToken Lost => _lost.Token;

        public bool IsHeld => !_lost.IsCancellationRequested;

        public void Lose() => _lost.Cancel();

        public ValueTask DisposeAsync()
        {
            _lost.Cancel();
            return ValueTask.CompletedTask;
        }
    }
}
