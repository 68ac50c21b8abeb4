using System.Diagnostics;
using Iot.Routing.Hosting;
using Iot.Routing.Internal;
using Microsoft.Extensions.Logging;

namespace Iot.Routing.Subscriptions;

/// <summary>
/// Delivers one webhook subscription's pending events, oldest first, one request at a time. After a failure the
/// whole subscription waits until the failed events' next attempt: a failing endpoint is retried on its schedule
/// and never hammered, and, as every subscription has its own loop, never delays the others. The token given to
/// <see cref="RunAsync"/> stops the loop between requests; a request already sent is only cut short by
/// <paramref name="abort"/>, so that at a graceful stop it completes and its outcome is stored (no redelivery).
/// </summary>
internal sealed class PushDeliveryLoop(CompiledEventSubscription subscription, IEventDeliveryStore store, WebhookSender sender,
    RetrySchedule schedule, AsyncSignal signal, SemaphoreSlim concurrency, RoutingOptions options, RoutingMetrics metrics,
    TimeProvider timeProvider, ILogger logger, CancellationToken abort, Crossover.SubscriptionCrossover? crossover = null)
{
    private const int FetchSize = 256;

    /// <summary>How long a claimed batch stays this loop's: the validation handshake and the POST, each within the webhook timeout.</summary>
    private long ClaimDuration => (long)(2 * options.WebhookTimeout.TotalMilliseconds) + 1000;
    private readonly List<Task> _deletes = [];
    private long _backoffUntil;
    private bool _validated = !options.WebhookValidation;

    public CompiledEventSubscription Subscription { get; } = subscription;

    private EventSubscriptionDefinition Definition => Subscription.Definition;

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        RoutingLog.LoopStarted(logger, Subscription.Name, Definition.Destination.EndpointUrl!);
        while (!cancellationToken.IsCancellationRequested)
        {
            long now = Now();
            if (_backoffUntil > now)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(_backoffUntil - now), timeProvider, cancellationToken).ConfigureAwait(false);
                continue;
            }

            var due = await store.GetDueAsync(Subscription.Name, now, FetchSize).ConfigureAwait(false);
            if (due.Count == 0)
            {
                var next = await store.GetNextDueAsync(Subscription.Name).ConfigureAwait(false);
                var wait = next is { } at ? TimeSpan.FromMilliseconds(Math.Max(0, at - now)) : Timeout.InfiniteTimeSpan;
                if (wait != TimeSpan.Zero)
                {
                    await signal.WaitAsync(wait, timeProvider, cancellationToken).ConfigureAwait(false);
                }

                continue;
            }

            var expired = due.Where(d => d.ExpiresAt <= now).ToList();
            if (expired.Count > 0)
            {
                await GiveUpAsync(expired, DeadLetterReasons.TimeToLiveExceeded, expired[0].LastOutcome, now, countAttempt: false).ConfigureAwait(false);
            }

            var remaining = due.Where(d => d.ExpiresAt > now).ToList();
            int index = 0;
            while (index < remaining.Count && !cancellationToken.IsCancellationRequested)
            {
                // The batch is claimed before it is sent (in a cluster one compare-and-set per delivery; one process
                // returns it unchanged): a former holder of this loop's lease that resumes late finds the deliveries
                // claimed or settled and sends nothing, and its settling writes fail on the claim's revision.
                var batch = await store.ClaimAsync(TakeBatch(remaining, ref index), Now(), ClaimDuration).ConfigureAwait(false);
                if (batch.Count == 0)
                {
                    continue;
                }

                if (!await DeliverAsync(batch, cancellationToken).ConfigureAwait(false))
                {
                    break;
                }
            }

            // The deletes of delivered events commit as a group before the next fetch, so a fetch never returns an
            // event that was delivered; a crash before the commit redelivers (at least once).
            if (_deletes.Count > 0)
            {
                await Task.WhenAll(_deletes).ConfigureAwait(false);
                _deletes.Clear();
            }
        }
    }

    /// <summary>Sends one batch and records the outcome; false when the endpoint failed (the loop backs off).</summary>
    internal async Task<bool> DeliverAsync(List<DeliveryRecord> batch, CancellationToken cancellationToken)
    {
        var (result, outcome) = await SendAsync(batch, cancellationToken).ConfigureAwait(false);
        long now = Now();
        switch (result)
        {
            case WebhookResult.Delivered:
                _deletes.Add(store.DeleteAsync(batch));
                metrics.Add(RoutingCounter.DeliveriesSucceeded, batch.Count);
                return true;
            case WebhookResult.DeadLetter:
                await GiveUpAsync(batch, DeadLetterReasons.DestinationRejected, outcome, now, countAttempt: true).ConfigureAwait(false);
                return true;
            case WebhookResult.Refused:
                // Nothing was sent: the address is not allowed, and retrying would not change that.
                metrics.Add(RoutingCounter.WebhookDestinationsRefused, batch.Count);
                await GiveUpAsync(batch, DeadLetterReasons.DestinationNotAllowed, outcome, now, countAttempt: true).ConfigureAwait(false);
                return true;
            default:
                await RetryAsync(batch, outcome, now).ConfigureAwait(false);
                return false;
        }
    }

    // The validation handshake (until it passed once) and the POST, within the concurrency bound.
    private async Task<(WebhookResult Result, string Outcome)> SendAsync(List<DeliveryRecord> batch, CancellationToken cancellationToken)
    {
        var endpoint = Definition.Destination.EndpointUrl!;
        await concurrency.WaitAsync(cancellationToken).ConfigureAwait(false);

        // From here the request is sent: only an abort cuts it short, a stop lets it finish.
        cancellationToken = abort;
        try
        {
            if (!_validated)
            {
                var (validation, outcome) = await sender.ValidateAsync(endpoint, options.WebhookOrigin, cancellationToken).ConfigureAwait(false);
                if (validation != WebhookResult.Delivered)
                {
                    return (validation, outcome);
                }

                _validated = true;
                RoutingLog.Validated(logger, Subscription.Name);
            }

            bool asBatch = Definition.Batching.MaxEventsPerBatch > 1;
            byte[][] events = [.. batch.Select(b => b.Event)];
            using var activity = DeliveryTracing.Start(Subscription.Name, endpoint, events, batch[0].Attempts + 1);
            var started = timeProvider.GetTimestamp();
            var sent = await sender.SendAsync(endpoint, events, asBatch, batch[0].Attempts + 1, cancellationToken).ConfigureAwait(false);
            RecordPost(sent.Result, timeProvider.GetElapsedTime(started));
            if (activity is not null)
            {
                activity.SetTag("iot.delivery.outcome", sent.Outcome);
                if (sent.Result != WebhookResult.Delivered)
                {
                    activity.SetStatus(ActivityStatusCode.Error, sent.Outcome);
                }
            }

            return sent;
        }
        finally
        {
            concurrency.Release();
        }
    }

    /// <summary><c>iot.routing.webhook.duration</c>: one POST that was sent (a refused address sends none), by outcome.</summary>
    private void RecordPost(WebhookResult result, TimeSpan elapsed)
    {
        var outcome = result switch
        {
            WebhookResult.Delivered => "delivered",
            WebhookResult.DeadLetter => "rejected",
            WebhookResult.Retry => "failed",
            _ => null,
        };
        if (outcome is not null)
        {
            metrics.WebhookDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("outcome", outcome));
        }
    }

    private async Task RetryAsync(List<DeliveryRecord> batch, string outcome, long now)
    {
        metrics.Add(RoutingCounter.DeliveryAttemptsFailed, batch.Count);
        var retries = new List<(long, int, long)>(batch.Count);
        var exhausted = new List<DeliveryRecord>();
        var expiring = new List<DeliveryRecord>();
        TimeSpan delay = schedule.GetDelay(batch[0].Attempts + 1);
        foreach (var delivery in batch)
        {
            int attempts = delivery.Attempts + 1;
            long next = now + (long)schedule.GetDelay(attempts).TotalMilliseconds;
            delivery.Attempts = attempts;
            if (attempts >= Definition.RetryPolicy.MaxDeliveryAttempts)
            {
                exhausted.Add(delivery);
            }
            else if (next >= delivery.ExpiresAt)
            {
                expiring.Add(delivery);
            }
            else
            {
                retries.Add((delivery.Seq, attempts, next));
            }
        }

        if (retries.Count > 0)
        {
            await store.RecordFailuresAsync(retries, outcome).ConfigureAwait(false);
            RoutingLog.DeliveryFailed(logger, Subscription.Name, outcome, retries.Count, delay);
        }

        if (exhausted.Count > 0)
        {
            await GiveUpAsync(exhausted, DeadLetterReasons.MaxDeliveryAttemptsExceeded, outcome, now, countAttempt: false).ConfigureAwait(false);
        }

        if (expiring.Count > 0)
        {
            await GiveUpAsync(expiring, DeadLetterReasons.TimeToLiveExceeded, outcome, now, countAttempt: false).ConfigureAwait(false);
        }

        _backoffUntil = now + (long)delay.TotalMilliseconds;
    }

    private async Task GiveUpAsync(List<DeliveryRecord> deliveries, string reason, string? outcome, long now, bool countAttempt)
    {
        if (Definition.DeadLetter.Enabled)
        {
            await store.DeadLetterAsync(deliveries, countAttempt ? 1 : 0, reason, outcome, now).ConfigureAwait(false);
            metrics.Add(RoutingCounter.DeadLettered, deliveries.Count);
            RoutingLog.DeadLettered(logger, Subscription.Name, deliveries.Count, reason, outcome);
        }
        else
        {
            await store.DeleteAsync(deliveries).ConfigureAwait(false);
            metrics.Add(RoutingCounter.Dropped, deliveries.Count);
            RoutingLog.Dropped(logger, Subscription.Name, deliveries.Count, reason);
        }

        crossover?.GaveUp(Subscription.Name, deliveries, reason, outcome, Definition.DeadLetter.Enabled);
    }

    private List<DeliveryRecord> TakeBatch(List<DeliveryRecord> due, ref int index)
    {
        int maxEvents = Definition.Batching.MaxEventsPerBatch;
        long preferredBytes = Definition.Batching.PreferredBatchSizeInKilobytes * 1024L;
        var batch = new List<DeliveryRecord> { due[index++] };
        long bytes = batch[0].Event.Length;
        while (index < due.Count && batch.Count < maxEvents && bytes + due[index].Event.Length + 1 <= preferredBytes)
        {
            bytes += due[index].Event.Length + 1;
            batch.Add(due[index++]);
        }

        return batch;
    }

    private long Now() => timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
}
