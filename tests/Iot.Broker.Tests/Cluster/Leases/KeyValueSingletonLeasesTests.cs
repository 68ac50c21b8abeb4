using System.Diagnostics;
using Iot.Broker.Cluster.Leases;
using Iot.Messaging.Leases;
using Iot.TestUtilities;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;

namespace Iot.Broker.Tests.Cluster.Leases;

/// <summary>One real nats-server for the lease tests of this class (each test uses its own bucket).</summary>
public sealed class LeaseNatsFixture : IAsyncLifetime
{
    private NatsServerScope? _nats;

    internal NatsServerScope Nats => _nats ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _nats = await NatsServerScope.StartAsync();

    public async Task DisposeAsync()
    {
        if (_nats is not null)
        {
            await _nats.DisposeAsync();
        }
    }
}

/// <summary>
/// Singleton leases on a key-value bucket of a real nats-server, between coordinators on separate connections (as two
/// nodes). The renew and give-up schedule runs on <see cref="FakeTimeProvider"/>s: one per node, so a node can be
/// paused (its clock stands still) while another's clock moves on.
/// </summary>
[Trait("Category", "Integration")]
public sealed class KeyValueSingletonLeasesTests(LeaseNatsFixture fixture) : IClassFixture<LeaseNatsFixture>, IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private static readonly DateTimeOffset T0 = new(2026, 3, 4, 5, 6, 7, TimeSpan.Zero);
    private static readonly LeaseSchedule Schedule = new(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2));
    private readonly string _bucket = "iot-leases-" + Guid.NewGuid().ToString("N")[..8];
    private readonly List<IAsyncDisposable> _disposables = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var disposable in Enumerable.Reverse(_disposables))
        {
            await disposable.DisposeAsync();
        }
    }

    [Fact]
    public async Task TryAcquireAsync_TwoNodesAtOnce_ExactlyOneHolds()
    {
        var time = new FakeTimeProvider(T0);
        var a = await NodeAsync("a", time);
        var b = await NodeAsync("b", time);

        for (int round = 0; round < 5; round++)
        {
            var name = "contended." + round;
            var results = await Task.WhenAll(a.Leases.TryAcquireAsync(name).AsTask(), b.Leases.TryAcquireAsync(name).AsTask());

            var held = Assert.Single(results, r => r is not null)!;
            Assert.True(held.IsHeld);
            Assert.True(held.FencingToken > 0);
            Assert.Null(await a.Leases.TryAcquireAsync(name));
            Assert.Null(await b.Leases.TryAcquireAsync(name));
        }

        Assert.Equal(5, a.Metrics.Held + b.Metrics.Held);
    }

    [Fact]
    public async Task Renewal_EveryThirdOfTheDuration_KeepsTheLeasePastItsDuration()
    {
        var time = new FakeTimeProvider(T0);
        var a = await NodeAsync("a", time);
        var b = await NodeAsync("b", time);
        var lease = (KeyValueLease)(await a.Leases.TryAcquireAsync("renewed"))!;

        // Four renewals: 13.3 s of lease time, longer than the duration; each is a compare-and-set on the last revision.
        for (int i = 0; i < 4; i++)
        {
            var before = lease.Revision;
            time.Advance(Schedule.RenewInterval);
            await Eventually.WaitUntilAsync(() => lease.Revision > before, Wait, "renewal " + i);
        }

        Assert.True(lease.IsHeld);
        Assert.Null(await b.Leases.TryAcquireAsync("renewed"));
        Assert.Equal(0, a.Metrics.RenewFailures);
    }

    [Fact]
    public async Task Release_AnotherNodeAcquiresAtOnceWithAHigherToken()
    {
        var time = new FakeTimeProvider(T0);
        var a = await NodeAsync("a", time);
        var b = await NodeAsync("b", time);
        var first = (await a.Leases.TryAcquireAsync("released"))!;

        await first.DisposeAsync();
        var second = await b.Leases.TryAcquireAsync("released");

        Assert.True(first.Lost.IsCancellationRequested);
        Assert.NotNull(second);
        Assert.True(second.FencingToken > first.FencingToken);
        Assert.Equal(0, b.Metrics.Takeovers);
        Assert.Equal(0, a.Metrics.Lost);
    }

    [Fact]
    public async Task PausedHolder_GivesUpBeforeAnotherNodeMayTakeIt()
    {
        var time = new FakeTimeProvider(T0);
        var a = await NodeAsync("a", time);
        var b = await NodeAsync("b", time);
        var lease = (await a.Leases.TryAcquireAsync("paused"))!;
        var lost = Signal(lease.Lost);
        Assert.Null(await b.Leases.TryAcquireAsync("paused")); // B sees the record from the start

        // The holder's renewal is due at 3.3 s but cannot finish before its give-up timer at 8 s fires (one jump of the
        // clock, as after a pause): the work stops at 8 s, while the others must wait until 10 s.
        time.Advance(Schedule.GiveUpAfter);
        Assert.True(lost.IsCompleted, "the give-up timer fires with the clock");
        Assert.Null(await b.Leases.TryAcquireAsync("paused"));
        Assert.Equal(1, a.Metrics.Lost);
        Assert.Equal(0, a.Metrics.Held);
    }

    [Fact]
    public async Task Lost_WorkReleasesTheLeaseFromInsideTheCancellation_ForgottenAndCounted()
    {
        // A singleton's loop usually ends, and releases its lease, inside the cancellation that lost it (its await's
        // continuation runs inline): the lease must still end as lost, and this node must be able to take it again.
        // Its renewals fail (NATS is gone), so the give-up timer ends it; a node whose held map kept it would never
        // try to acquire it again.
        var time = new FakeTimeProvider(T0);
        var (connection, kv) = await fixture.Nats.ConnectAgainAsync();
        var a = Node("a", time, kv);
        var lease = (await a.Leases.TryAcquireAsync("inline"))!;
        Task? released = null;
        lease.Lost.Register(() => released = lease.DisposeAsync().AsTask());
        await connection.DisposeAsync();

        time.Advance(Schedule.GiveUpAfter);
        Assert.NotNull(released);
        await released.WaitAsync(Wait);

        Assert.Equal(1, a.Metrics.Lost);
        Assert.Equal(0, a.Metrics.Held);
        Assert.DoesNotContain("inline", a.Leases.Held);
    }

    [Fact]
    public async Task RenewalsFail_HolderGivesUpAtDurationMinusMarginSinceItsLastRenewal()
    {
        var time = new FakeTimeProvider(T0);
        var (connection, kv) = await fixture.Nats.ConnectAgainAsync();
        var a = Node("a", time, kv);
        var lease = (KeyValueLease)(await a.Leases.TryAcquireAsync("failing"))!;
        var renewed = lease.Revision;
        time.Advance(Schedule.RenewInterval);
        await Eventually.WaitUntilAsync(() => lease.Revision > renewed, Wait, "first renewal");
        var lastRenewal = time.GetUtcNow();
        var lost = Signal(lease.Lost);

        // The node loses NATS: every later renewal fails; the lease is kept until 8 s after the last one that succeeded.
        await connection.DisposeAsync();
        time.Advance(Schedule.RenewInterval);
        await Eventually.WaitUntilAsync(() => a.Metrics.RenewFailures > 0, Wait, "failed renewal");
        Assert.False(lost.IsCompleted, "lost after one failed renewal");
        time.Advance(lastRenewal + Schedule.GiveUpAfter - TimeSpan.FromMilliseconds(1) - time.GetUtcNow());
        Assert.False(lost.IsCompleted, "lost before the give-up time");

        time.Advance(lastRenewal + Schedule.GiveUpAfter - time.GetUtcNow());
        await lost.WaitAsync(Wait);
        Assert.Equal(1, a.Metrics.Lost);
    }

    [Fact]
    public async Task StaleHolder_AfterATakeover_ItsRenewalIsRefusedAndItsLeaseLost()
    {
        var timeA = new FakeTimeProvider(T0);
        var timeB = new FakeTimeProvider(T0);
        var a = await NodeAsync("a", timeA);
        var b = await NodeAsync("b", timeB);
        var stale = (await a.Leases.TryAcquireAsync("fenced"))!;
        var lost = Signal(stale.Lost);

        // A is paused (its clock stands still, it renews nothing); B sees the same revision for the duration on its own
        // clock, and takes the lease over.
        Assert.Null(await b.Leases.TryAcquireAsync("fenced"));
        timeB.Advance(Schedule.Duration - TimeSpan.FromMilliseconds(1));
        Assert.Null(await b.Leases.TryAcquireAsync("fenced"));
        timeB.Advance(TimeSpan.FromMilliseconds(1));
        var current = await b.Leases.TryAcquireAsync("fenced");
        Assert.NotNull(current);
        Assert.True(current.FencingToken > stale.FencingToken);
        Assert.Equal(1, b.Metrics.Takeovers);
        Assert.True(stale.IsHeld, "A does not know yet");

        // A wakes up: its renewal (a compare-and-set on the revision it wrote) is refused, and its work stops at once.
        timeA.Advance(Schedule.RenewInterval);
        await lost.WaitAsync(Wait);
        Assert.False(stale.IsHeld);
        Assert.Equal("b", (await ReadRecordAsync(b, "fenced")).Holder);
        Assert.True(current.IsHeld);

        // And A cannot take it back while B renews.
        Assert.Null(await a.Leases.TryAcquireAsync("fenced"));
    }

    [Fact]
    public async Task TryAcquireAsync_ReaderClockAnHourAhead_DoesNotTakeALiveLease()
    {
        var a = await NodeAsync("a", new FakeTimeProvider(T0));
        var timeB = new FakeTimeProvider(T0.AddHours(1));
        var b = await NodeAsync("b", timeB);
        var held = (await a.Leases.TryAcquireAsync("skewed"))!;

        // Expiry is judged on B's clock from when B saw the record, never by comparing A's timestamp with B's clock.
        Assert.Null(await b.Leases.TryAcquireAsync("skewed"));
        timeB.Advance(Schedule.Duration - TimeSpan.FromMilliseconds(1));
        Assert.Null(await b.Leases.TryAcquireAsync("skewed"));
        Assert.True(held.IsHeld);
    }

    [Fact]
    public async Task AcquireAsync_HolderDies_AnotherNodeTakesOverWithinTheDurationPlusFiveSeconds()
    {
        // Real time, a short lease: the holder's connection is closed (the node died) and never releases.
        var schedule = new LeaseSchedule(TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(500));
        var (connection, kv) = await fixture.Nats.ConnectAgainAsync();
        var a = Node("a", TimeProvider.System, kv, schedule);
        var b = await NodeAsync("b", TimeProvider.System, schedule);
        var held = (KeyValueLease)(await a.Leases.TryAcquireAsync("dies"))!;
        var lostAt = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        held.Lost.Register(() => lostAt.TrySetResult(Stopwatch.GetTimestamp()));
        using var stop = new CancellationTokenSource(Wait);
        var waiting = b.Leases.AcquireAsync("dies", stop.Token);

        // Four renewals by the holder (more than the duration of lease time) while B waits: B must not take it.
        for (int i = 0; i < 4; i++)
        {
            var before = held.Revision;
            await Eventually.WaitUntilAsync(() => held.Revision > before || waiting.IsCompleted, Wait, "renewal " + i);
            Assert.False(waiting.IsCompleted, "taken while the holder renewed");
        }

        var died = Stopwatch.GetTimestamp();
        await connection.DisposeAsync();
        var taken = await waiting;
        var takenAt = Stopwatch.GetTimestamp();
        var tookOver = Stopwatch.GetElapsedTime(died, takenAt);

        Assert.True(tookOver < schedule.Duration + TimeSpan.FromSeconds(5), "took over after " + tookOver);
        Assert.True(taken.FencingToken > held.FencingToken);
        // The old holder had stopped before.
        Assert.True(await lostAt.Task.WaitAsync(Wait) < takenAt);
        Assert.Equal(1, b.Metrics.Takeovers);
    }

    private static Task Signal(CancellationToken token)
    {
        var fired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        token.Register(() => fired.TrySetResult());
        return fired.Task;
    }

    private async Task<LeaseRecord> ReadRecordAsync(TestNode node, string name)
    {
        var store = await node.KeyValue.GetStoreAsync(_bucket);
        var entry = await store.GetEntryAsync<byte[]>(LeaseRecord.Key(name));
        return LeaseRecord.FromJson(entry.Value!)!;
    }

    private async Task<TestNode> NodeAsync(string nodeId, TimeProvider time, LeaseSchedule? schedule = null)
    {
        var (connection, kv) = await fixture.Nats.ConnectAgainAsync();
        _disposables.Add(connection);
        return Node(nodeId, time, kv, schedule);
    }

    private TestNode Node(string nodeId, TimeProvider time, INatsKVContext kv, LeaseSchedule? schedule = null)
    {
        var metrics = new LeaseMetrics();
        var leases = new KeyValueSingletonLeases(kv, nodeId, 1, schedule ?? Schedule, TimeSpan.FromSeconds(5), time, metrics, NullLogger.Instance, _bucket);
        _disposables.Add(leases);
        return new TestNode(leases, metrics, kv);
    }

    private sealed record TestNode(KeyValueSingletonLeases Leases, LeaseMetrics Metrics, INatsKVContext KeyValue);
}
