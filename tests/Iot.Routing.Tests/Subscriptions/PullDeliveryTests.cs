using System.Text;
using Iot.Routing.Hosting;
using Iot.Routing.Internal;
using Iot.Routing.Subscriptions;
using Iot.Routing.Tests.Internal;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Routing.Tests.Subscriptions;

#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
public sealed class PullDeliveryTests : IAsyncLifetime
#pragma warning restore CA1001
{
    private readonly TestDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 24, 12, 0, 0, TimeSpan.Zero));
    private SqliteRoutingStore _store = null!;
    private EventSubscriptionRegistry _registry = null!;
    private PullDelivery _pull = null!;

    public async Task InitializeAsync()
    {
        _store = new SqliteRoutingStore(_directory.Database);
        _registry = new EventSubscriptionRegistry(_store);
        _pull = new PullDelivery(_registry, _store, new DeliverySignals(), new RoutingMetrics(), _time);
        var (outcome, error) = await _registry.UpsertAsync(new EventSubscriptionDefinition
        {
            Name = "pull1",
            Destination = new EventSubscriptionEndpoint { Kind = EventDeliveryKind.Pull },
            Pull = new PullPolicy { LockDuration = TimeSpan.FromSeconds(60), MaxDeliveryCount = 2 },
            RetryPolicy = new RetryPolicy { EventTtl = TimeSpan.FromMinutes(10) },
        });
        Assert.True(outcome == Iot.Routing.Rules.ChangeOutcome.Created, error);
    }

    public async Task DisposeAsync()
    {
        _registry.Dispose();
        await _store.DisposeAsync();
        _directory.Dispose();
    }

    private Task<List<string>?> EnqueueAsync(string id)
    {
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        return _store.EnqueueAsync([new PendingDelivery("pull1", id, Encoding.UTF8.GetBytes("{}"), now, now + 600_000)]);
    }

    [Fact]
    public async Task Receive_LockExpires_EventIsReceivedAgainAndOldTokenFails()
    {
        await EnqueueAsync("e1");
        var (_, first) = await _pull.ReceiveAsync("pull1", 10, TimeSpan.Zero, default);
        var locked = Assert.Single(first);
        Assert.Equal(_time.GetUtcNow().AddSeconds(60), locked.LockedUntil);

        _time.Advance(TimeSpan.FromSeconds(59));
        Assert.Empty((await _pull.ReceiveAsync("pull1", 10, TimeSpan.Zero, default)).Events);

        _time.Advance(TimeSpan.FromSeconds(1));
        var again = Assert.Single((await _pull.ReceiveAsync("pull1", 10, TimeSpan.Zero, default)).Events);
        Assert.Equal(2, again.DeliveryCount);
        Assert.NotEqual(locked.LockToken, again.LockToken);

        var (_, stale) = await _pull.AcknowledgeAsync("pull1", [locked.LockToken]);
        Assert.Empty(stale!.Succeeded);
        Assert.Single(stale.Failed);
    }

    [Fact]
    public async Task Receive_MaxDeliveryCountReached_DeadLettered()
    {
        await EnqueueAsync("e1");
        for (int i = 0; i < 2; i++)
        {
            Assert.Single((await _pull.ReceiveAsync("pull1", 10, TimeSpan.Zero, default)).Events);
            _time.Advance(TimeSpan.FromSeconds(61));
        }

        Assert.Empty((await _pull.ReceiveAsync("pull1", 10, TimeSpan.Zero, default)).Events);
        var dead = Assert.Single(await _store.ListDeadLettersAsync("pull1", 10));
        Assert.Equal(DeadLetterReasons.MaxDeliveryCountExceeded, dead.Reason);
        Assert.Equal(2, dead.Attempts);
    }

    [Fact]
    public async Task RenewLock_BeforeExpiry_KeepsTheEventLocked()
    {
        await EnqueueAsync("e1");
        var locked = Assert.Single((await _pull.ReceiveAsync("pull1", 10, TimeSpan.Zero, default)).Events);
        _time.Advance(TimeSpan.FromSeconds(50));
        Assert.Single((await _pull.RenewLockAsync("pull1", [locked.LockToken])).Result!.Succeeded);
        _time.Advance(TimeSpan.FromSeconds(50));
        Assert.Empty((await _pull.ReceiveAsync("pull1", 10, TimeSpan.Zero, default)).Events);
        Assert.Single((await _pull.AcknowledgeAsync("pull1", [locked.LockToken])).Result!.Succeeded);
        Assert.Equal((0L, 0L), await _store.CountAsync("pull1"));
    }

    [Fact]
    public async Task Receive_PastTtl_DeadLetteredAsExpired()
    {
        await EnqueueAsync("e1");
        _time.Advance(TimeSpan.FromMinutes(11));
        Assert.Empty((await _pull.ReceiveAsync("pull1", 10, TimeSpan.Zero, default)).Events);
        Assert.Equal(DeadLetterReasons.TimeToLiveExceeded, Assert.Single(await _store.ListDeadLettersAsync("pull1", 10)).Reason);
    }

    [Fact]
    public async Task Receive_WaitingReceiver_WakesWhenAnEventArrives()
    {
        var signals = new DeliverySignals();
        var pull = new PullDelivery(_registry, _store, signals, new RoutingMetrics(), _time);
        var receive = pull.ReceiveAsync("pull1", 1, TimeSpan.FromSeconds(30), default);
        Assert.False(receive.IsCompleted);
        await EnqueueAsync("e1");
        signals.Set("pull1");
        var (_, events) = await receive.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Single(events);
    }

    [Fact]
    public async Task Operations_UnknownOrPushSubscription_ReportWhy()
    {
        Assert.Equal(PullError.NotFound, (await _pull.ReceiveAsync("nope", 1, TimeSpan.Zero, default)).Error);
        await _registry.UpsertAsync(new EventSubscriptionDefinition
        {
            Name = "push1",
            Destination = new EventSubscriptionEndpoint { EndpointUrl = new Uri("http://127.0.0.1:1/") },
        });
        Assert.Equal(PullError.NotPull, (await _pull.AcknowledgeAsync("push1", ["x"])).Error);
    }
}
