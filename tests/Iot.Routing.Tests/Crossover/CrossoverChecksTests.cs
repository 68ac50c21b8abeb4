using System.Text;
using Iot.Messaging.Crossover;
using Iot.Messaging.Leases;
using Iot.Routing.Crossover;
using Iot.Routing.Internal;
using Iot.TestUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Routing.Tests.Crossover;

public sealed class CrossoverChecksTests
{
    [Fact]
    public async Task RunAsync_ChecksAtOnceThenEveryIntervalOfTheClock()
    {
        var time = new FakeTimeProvider();
        var checks = 0;
        var ran = new SemaphoreSlim(0);
        using var stop = new CancellationTokenSource();
        var loop = CrossoverChecks.RunAsync(LocalSingletonLeases.Instance, "crossover.test", TimeSpan.FromSeconds(30), time, _ =>
        {
            Interlocked.Increment(ref checks);
            ran.Release();
            return Task.CompletedTask;
        }, ex => Assert.Fail(ex.ToString()), stop.Token);

        Assert.True(await ran.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(1, Volatile.Read(ref checks));
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.False(await ran.WaitAsync(TimeSpan.FromMilliseconds(50)));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await ran.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(2, Volatile.Read(ref checks));

        await stop.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task RunAsync_CheckThrows_ReportedAndNextCheckRuns()
    {
        var time = new FakeTimeProvider();
        var errors = new List<Exception>();
        var ran = new SemaphoreSlim(0);
        using var stop = new CancellationTokenSource();
        var loop = CrossoverChecks.RunAsync(LocalSingletonLeases.Instance, "crossover.test", TimeSpan.FromSeconds(1), time, _ =>
        {
            ran.Release();
            throw new InvalidOperationException("store unavailable");
        }, ex => { lock (errors) { errors.Add(ex); } }, stop.Token);

        Assert.True(await ran.WaitAsync(TimeSpan.FromSeconds(20)));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(await ran.WaitAsync(TimeSpan.FromSeconds(20)));
        await stop.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(20));
        lock (errors)
        {
            Assert.True(errors.Count >= 1);
            Assert.All(errors, e => Assert.IsType<InvalidOperationException>(e));
        }
    }

    [Fact]
    public void Throttle_OncePerPeriodPerKey_ResetRaisesAtOnce()
    {
        var time = new FakeTimeProvider();
        var throttle = new CrossoverThrottle(TimeSpan.FromMinutes(5), time);
        Assert.True(throttle.TryAcquire("a"));
        Assert.True(throttle.TryAcquire("b"));
        Assert.False(throttle.TryAcquire("a"));
        time.Advance(TimeSpan.FromMinutes(5) - TimeSpan.FromTicks(1));
        Assert.False(throttle.TryAcquire("a"));
        time.Advance(TimeSpan.FromTicks(1));
        Assert.True(throttle.TryAcquire("a"));
        throttle.Reset("a");
        Assert.True(throttle.TryAcquire("a"));
    }

    [Fact]
    public void SubscriptionCrossover_DeadLetteredCrossoverEvents_RaiseNothing_OthersOncePerPeriod()
    {
        var time = new FakeTimeProvider();
        var events = new RecordingCrossoverEvents();
        var crossover = new SubscriptionCrossover(events, Options.Create(new CrossoverOptions { RepeatPeriod = TimeSpan.FromMinutes(5) }), time);

        // The event about a subscription's dead letters, dead-lettered itself, must not raise another: no loop.
        crossover.GaveUp("ops", [Delivery("""{"specversion":"1.0","id":"1","type":"Iot.Subscription.DeliveriesDeadLettered","source":"/iot/subscriptions"}""")],
            "MaxDeliveryAttemptsExceeded", "HTTP 500", deadLettered: true);
        Assert.Empty(events.Raised);

        crossover.GaveUp("alarms", [Delivery("""{"specversion":"1.0","id":"2","type":"iot.device.event.alarm","source":"/iot/devices/d1"}""")],
            "MaxDeliveryAttemptsExceeded", "HTTP 500", deadLettered: true);
        crossover.GaveUp("alarms", [Delivery("""{"specversion":"1.0","id":"3","type":"iot.device.event.alarm","source":"/iot/devices/d1"}""")],
            "MaxDeliveryAttemptsExceeded", "HTTP 500", deadLettered: true);
        var raised = Assert.Single(events.Raised);
        Assert.Equal((CrossoverTypes.SubscriptionDeliveriesDeadLettered, "$iot/subscriptions/alarms"), (raised.Type, raised.Subject));
        Assert.Equal(("MaxDeliveryAttemptsExceeded", "HTTP 500", 1), (raised.Data["reason"]!.GetValue<string>(),
            raised.Data["lastOutcome"]!.GetValue<string>(), raised.Data["eventCount"]!.GetValue<int>()));
    }

    private static DeliveryRecord Delivery(string cloudEvent) =>
        new() { Subscription = "s", EventId = "e", Event = Encoding.UTF8.GetBytes(cloudEvent) };
}
