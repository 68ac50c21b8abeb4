using Iot.Routing.Hosting;
using Iot.Routing.Internal;

namespace Iot.Routing.Subscriptions;

/// <summary>A received event with its lock token, as Event Grid namespaces' receive result.</summary>
internal sealed record ReceivedEvent(string LockToken, int DeliveryCount, DateTimeOffset LockedUntil, byte[] Event);

/// <summary>Outcome of a pull operation that may fail for the subscription as a whole.</summary>
internal enum PullError
{
    None,
    NotFound,
    NotPull,
}

/// <summary>
/// Pull delivery, as Event Grid namespaces: receive locks events for the subscription's lock duration; acknowledge
/// deletes them, release makes them available again, reject dead-letters them, renew extends the lock. An event
/// received <c>maxDeliveryCount</c> times without acknowledgement, or past its TTL, is dead-lettered.
/// </summary>
internal sealed class PullDelivery(EventSubscriptionRegistry registry, IEventDeliveryStore store, DeliverySignals signals, RoutingMetrics metrics,
    TimeProvider timeProvider)
{
    public const int MaxEventsPerReceive = 100;

    /// <summary>Receives up to <paramref name="maxEvents"/>, waiting up to <paramref name="maxWait"/> for the first.</summary>
    public async Task<(PullError Error, IReadOnlyList<ReceivedEvent> Events)> ReceiveAsync(string name, int maxEvents, TimeSpan maxWait,
        CancellationToken cancellationToken)
    {
        if (Resolve(name) is not { } subscription)
        {
            return (Check(name), []);
        }

        var definition = subscription.Definition;
        long deadline = Now() + (long)maxWait.TotalMilliseconds;
        var signal = signals.For(name);
        while (true)
        {
            long now = Now();
            var rows = await store.ReceiveAsync(name, Math.Clamp(maxEvents, 1, MaxEventsPerReceive), now,
                (long)definition.Pull.LockDuration.TotalMilliseconds, definition.Pull.MaxDeliveryCount, definition.DeadLetter.Enabled).ConfigureAwait(false);
            if (rows.Count > 0 || now >= deadline)
            {
                metrics.Add(RoutingCounter.PullReceived, rows.Count);
                return (PullError.None, [.. rows.Select(r => new ReceivedEvent(r.LockToken!, r.Attempts,
                    DateTimeOffset.FromUnixTimeMilliseconds(r.LockedUntil!.Value), r.Event))]);
            }

            await signal.WaitAsync(TimeSpan.FromMilliseconds(deadline - now), timeProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    public async Task<(PullError Error, LockTokenResult? Result)> AcknowledgeAsync(string name, IReadOnlyList<string> lockTokens)
    {
        if (Resolve(name) is null)
        {
            return (Check(name), null);
        }

        var result = await store.AcknowledgeAsync(name, lockTokens, Now()).ConfigureAwait(false);
        metrics.Add(RoutingCounter.DeliveriesSucceeded, result.Succeeded.Count);
        return (PullError.None, result);
    }

    public async Task<(PullError Error, LockTokenResult? Result)> ReleaseAsync(string name, IReadOnlyList<string> lockTokens, TimeSpan delay)
    {
        if (Resolve(name) is null)
        {
            return (Check(name), null);
        }

        var result = await store.ReleaseAsync(name, lockTokens, Now(), (long)delay.TotalMilliseconds).ConfigureAwait(false);
        signals.Set(name);
        return (PullError.None, result);
    }

    public async Task<(PullError Error, LockTokenResult? Result)> RejectAsync(string name, IReadOnlyList<string> lockTokens)
    {
        if (Resolve(name) is not { } subscription)
        {
            return (Check(name), null);
        }

        var result = await store.RejectAsync(name, lockTokens, Now(), subscription.Definition.DeadLetter.Enabled).ConfigureAwait(false);
        if (subscription.Definition.DeadLetter.Enabled)
        {
            metrics.Add(RoutingCounter.DeadLettered, result.Succeeded.Count);
        }
        else
        {
            metrics.Add(RoutingCounter.Dropped, result.Succeeded.Count);
        }

        return (PullError.None, result);
    }

    public async Task<(PullError Error, LockTokenResult? Result)> RenewLockAsync(string name, IReadOnlyList<string> lockTokens)
    {
        if (Resolve(name) is not { } subscription)
        {
            return (Check(name), null);
        }

        var result = await store.RenewLockAsync(name, lockTokens, Now(), (long)subscription.Definition.Pull.LockDuration.TotalMilliseconds).ConfigureAwait(false);
        return (PullError.None, result);
    }

    private CompiledEventSubscription? Resolve(string name) =>
        registry.TryGet(name, out var subscription) && subscription.Kind == EventDeliveryKind.Pull ? subscription : null;

    private PullError Check(string name) => registry.TryGet(name, out _) ? PullError.NotPull : PullError.NotFound;

    private long Now() => timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
}
