using Microsoft.Extensions.Logging;
using NATS.Client.KeyValueStore;
using Iot.Messaging.JetStream;

namespace Iot.Routing.Internal.JetStream;

/// <summary>
/// The watch of the deliveries bucket that feeds this node's <see cref="DeliveryIndex"/>: the bucket from its start
/// (the newest value of every key), then every change any node makes, until cancelled. <see cref="Loaded"/> completes
/// once the values that existed when it started are in the index; from then on a delivery another node recorded or
/// released is announced to <c>deliveriesAvailable</c> (so this node's receivers wake up as for its own enqueues).
/// </summary>
/// <remarks>
/// It must outlive a NATS outage: a failed watch is logged and, a second later, resumed from the first revision it had
/// not applied. The index takes each value only when it is newer than what it holds, so nothing is applied twice.
/// </remarks>
internal sealed class DeliveryWatch(RoutingBuckets buckets, DeliveryIndex index, TimeProvider timeProvider, ILogger logger,
    Action<string>? deliveriesAvailable)
{
    private static readonly TimeSpan ResumeDelay = TimeSpan.FromSeconds(1);

    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the deliveries that existed when the watch started are in the index; cancelled by <see cref="Abandon"/>.</summary>
    public Task Loaded => _loaded.Task;

    /// <summary>Follows the deliveries bucket (open) into the index until <paramref name="cancellationToken"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        ulong resumeAt = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var opts = WatchHeartbeat.Options with
                {
                    ResumeAtRevision = resumeAt,
                    OnNoData = _ =>
                    {
                        _loaded.TrySetResult();
                        return ValueTask.FromResult(false);
                    },
                };
                await foreach (var entry in buckets.Deliveries.WatchAsync<byte[]>(opts: opts, cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    Apply(entry);
                    resumeAt = entry.Revision + 1;
                    if (entry.Delta == 0)
                    {
                        _loaded.TrySetResult();
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // The watch must outlive a NATS outage: log, wait, resume from the first revision not applied.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                JetStreamRoutingLog.WatchFailed(logger, buckets.DeliveriesName, resumeAt, ex);
                try
                {
                    await Task.Delay(ResumeDelay, timeProvider, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>The store is closing: whoever waits for <see cref="Loaded"/> stops waiting (it is cancelled unless complete).</summary>
    public void Abandon() => _loaded.TrySetCanceled();

    /// <summary>The subscription a delivery key (<c>&lt;subscription&gt;.&lt;id&gt;</c>) belongs to; null for any other key.</summary>
    internal static string? SubscriptionOf(string key)
    {
        int dot = key.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 ? KeyNames.Unescape(key[..dot]) : null;
    }

    private void Apply(NatsKVEntry<byte[]> entry)
    {
        if (SubscriptionOf(entry.Key) is not { } subscription)
        {
            return;
        }

        var value = entry.Operation == NatsKVOperation.Put && entry.Value is { } bytes ? StoredDelivery.Read(bytes) : null;
        index.Apply(entry.Key, subscription, value, entry.Revision, fromWatch: true);
        if (value is { DeadLettered: false, LockToken: null } && _loaded.Task.IsCompleted)
        {
            deliveriesAvailable?.Invoke(subscription);
        }
    }
}
