using NATS.Client.KeyValueStore;
using Iot.Messaging.JetStream;

namespace Iot.Routing.Internal.JetStream;

internal sealed partial class JetStreamRoutingStore
{
    /// <inheritdoc/>
    public async Task<List<string>?> EnqueueAsync(IReadOnlyList<PendingDelivery> deliveries)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        List<string>? full = null;

        // One create per delivery, in order, so a subscription's deliveries keep the order they were recorded in.
        foreach (var delivery in deliveries)
        {
            int bytes = delivery.Event.Length;
            if (!_index.TryReserve(delivery.Subscription, bytes, _limits.MaxPendingEvents, _limits.MaxPendingBytes))
            {
                (full ??= []).Add(delivery.Subscription);
                continue;
            }

            try
            {
                var key = KeyNames.Escape(delivery.Subscription) + "." + Guid.NewGuid().ToString("N");
                var value = new StoredDelivery
                {
                    EventId = delivery.EventId,
                    Event = delivery.Event.ToArray(),
                    EnqueuedAt = delivery.EnqueuedAt,
                    ExpiresAt = delivery.ExpiresAt,
                    NextAttemptAt = delivery.EnqueuedAt,
                };
                var revision = await _buckets.Deliveries.CreateAsync(key, value.Serialize()).ConfigureAwait(false);
                _index.Apply(key, delivery.Subscription, value, revision, fromWatch: false);
            }
            finally
            {
                _index.Unreserve(delivery.Subscription, bytes);
            }
        }

        return full;
    }

    /// <inheritdoc/>
    public async Task<List<DeliveryRecord>> GetDueAsync(string subscription, long now, int max)
    {
        await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        return [.. _index.Due(subscription, now, max).Select(e => e.ToRecord())];
    }

    /// <inheritdoc/>
    public async Task<long?> GetNextDueAsync(string subscription)
    {
        await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        return _index.NextDue(subscription);
    }

    /// <inheritdoc/>
    /// <remarks>Each delete is compared with the revision the record was read (or claimed) at: a delivery changed since, by any node, stays.</remarks>
    public async Task<int> DeleteAsync(IReadOnlyCollection<DeliveryRecord> deliveries)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        int deleted = 0;
        foreach (var delivery in deliveries)
        {
            if (_index.BySeq(delivery.Seq) is { Value.DeadLettered: false } entry
                && await TryDeleteAsync(entry, Revision(delivery, entry)).ConfigureAwait(false))
            {
                deleted++;
            }
        }

        return deleted;
    }

    /// <inheritdoc/>
    public async Task<int> RecordFailuresAsync(IReadOnlyList<(long Seq, int Attempts, long NextAttemptAt)> failures, string outcome)
    {
        ArgumentNullException.ThrowIfNull(failures);
        await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        int recorded = 0;
        foreach (var (seq, attempts, next) in failures)
        {
            if (_index.BySeq(seq) is { Value.DeadLettered: false } entry
                && await TryUpdateAsync(entry, entry.Value with { Attempts = attempts, NextAttemptAt = next, LastOutcome = outcome, LockToken = null, LockedUntil = null },
                    entry.Revision).ConfigureAwait(false) is not null)
            {
                recorded++;
            }
        }

        return recorded;
    }

    /// <inheritdoc/>
    public async Task<int> DeadLetterAsync(IReadOnlyList<DeliveryRecord> deliveries, int extraAttempts, string reason, string? outcome, long now)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        int moved = 0;
        var touched = new HashSet<string>(StringComparer.Ordinal);
        foreach (var delivery in deliveries)
        {
            if (_index.BySeq(delivery.Seq) is { Value.DeadLettered: false } entry
                && await TryUpdateAsync(entry, DeadLettered(entry.Value, delivery.Attempts + extraAttempts, reason, outcome, now), Revision(delivery, entry))
                    .ConfigureAwait(false) is not null)
            {
                moved++;
                touched.Add(entry.Subscription);
            }
        }

        foreach (var subscription in touched)
        {
            await EvictBeyondCapAsync(subscription).ConfigureAwait(false);
        }

        return moved;
    }

    /// <inheritdoc/>
    public async Task<List<DeliveryRecord>> ListDeadLettersAsync(string subscription, int max)
    {
        await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        return [.. _index.Dead(subscription, max).Select(e => e.ToRecord())];
    }

    /// <inheritdoc/>
    public async Task<int> RedeliverAsync(string subscription, IReadOnlyCollection<string>? eventIds, long now, long expiresAt)
    {
        await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        var wanted = eventIds is { Count: > 0 } ? new HashSet<string>(eventIds, StringComparer.Ordinal) : null;
        int redelivered = 0;
        foreach (var entry in _index.Dead(subscription, int.MaxValue))
        {
            if (wanted is not null && !wanted.Contains(entry.Value.EventId))
            {
                continue;
            }

            var value = entry.Value with
            {
                DeadLettered = false, Attempts = 0, NextAttemptAt = now, EnqueuedAt = now, ExpiresAt = expiresAt,
                LockToken = null, LockedUntil = null, Reason = null, DeadLetteredAt = null,
            };
            if (await TryUpdateAsync(entry, value, entry.Revision).ConfigureAwait(false) is not null)
            {
                redelivered++;
            }
        }

        return redelivered;
    }

    /// <inheritdoc/>
    public async Task<(long Pending, long DeadLettered)> CountAsync(string subscription)
    {
        await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        return _index.Count(subscription);
    }

    /// <inheritdoc/>
    public async Task<(long Events, long Bytes)> GetPendingQuotaAsync(string subscription)
    {
        await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        return _index.Quota(subscription);
    }

    /// <inheritdoc/>
    public async Task<List<DeliveryRecord>> ClaimAsync(IReadOnlyList<DeliveryRecord> deliveries, long now, long claimDuration)
    {
        ArgumentNullException.ThrowIfNull(deliveries);
        await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        var claimed = new List<DeliveryRecord>(deliveries.Count);
        foreach (var delivery in deliveries)
        {
            if (_index.BySeq(delivery.Seq) is not { Value.DeadLettered: false } entry
                || (entry.Value.LockToken is not null && entry.Value.LockedUntil > now))
            {
                continue;
            }

            var token = NewLockToken(entry.Key);
            var revision = await TryUpdateAsync(entry, entry.Value with { LockToken = token, LockedUntil = now + claimDuration }, Revision(delivery, entry))
                .ConfigureAwait(false);
            if (revision is { } claimedAt)
            {
                delivery.Version = (long)claimedAt;
                delivery.LockToken = token;
                delivery.LockedUntil = now + claimDuration;
                claimed.Add(delivery);
            }
        }

        return claimed;
    }

    private static StoredDelivery DeadLettered(StoredDelivery value, int attempts, string reason, string? outcome, long now) => value with
    {
        DeadLettered = true, Attempts = attempts, Reason = reason, LastOutcome = outcome ?? value.LastOutcome, DeadLetteredAt = now,
        LockToken = null, LockedUntil = null,
    };

    // The revision a change through a record compares with: the one it was read at, when the caller's record has it.
    private static ulong Revision(DeliveryRecord delivery, DeliveryIndex.Entry entry) =>
        delivery.Version > 0 ? (ulong)delivery.Version : entry.Revision;

    // Deletes the subscription's oldest dead letters beyond the cap, and reports how many went.
    private async Task EvictBeyondCapAsync(string subscription)
    {
        var (_, dead) = _index.Count(subscription);
        var beyond = _limits.DeadLettersBeyondCap(dead);
        if (beyond == 0)
        {
            return;
        }

        int evicted = 0;
        foreach (var entry in _index.Dead(subscription, (int)Math.Min(int.MaxValue, beyond)))
        {
            if (await TryDeleteAsync(entry, entry.Revision).ConfigureAwait(false))
            {
                evicted++;
            }
        }

        if (evicted > 0)
        {
            _deadLettersEvicted?.Invoke(subscription, evicted);
        }
    }

    // A compare-and-set write of a delivery; its new revision, or null when the key changed since `revision` (the view
    // of it is then refreshed from the bucket). Any other failure throws.
    private async Task<ulong?> TryUpdateAsync(DeliveryIndex.Entry entry, StoredDelivery value, ulong revision)
    {
        value = value with { Seq = entry.Seq };
        var result = await _buckets.Deliveries.TryUpdateExclusiveAsync(entry.Key, value.Serialize(), revision).ConfigureAwait(false);
        if (result.Success)
        {
            _index.Apply(entry.Key, entry.Subscription, value, result.Value, fromWatch: false);
            return result.Value;
        }

        if (result.Error is NatsKVWrongLastRevisionException or NatsKVKeyNotFoundException or NatsKVKeyDeletedException)
        {
            await RefreshAsync(entry).ConfigureAwait(false);
            return null;
        }

        throw result.Error;
    }

    private async Task<bool> TryDeleteAsync(DeliveryIndex.Entry entry, ulong revision)
    {
        var result = await _buckets.Deliveries.TryDeleteExclusiveAsync(entry.Key, revision).ConfigureAwait(false);
        if (result.Success)
        {
            _index.Apply(entry.Key, entry.Subscription, null, revision, fromWatch: false);
            return true;
        }

        if (result.Error is NatsKVWrongLastRevisionException or NatsKVKeyNotFoundException or NatsKVKeyDeletedException)
        {
            await RefreshAsync(entry).ConfigureAwait(false);
            return false;
        }

        throw result.Error;
    }

    // Reads one delivery's key and puts what is there into the view (a compare-and-set found it changed).
    private async Task RefreshAsync(DeliveryIndex.Entry entry)
    {
        var read = await _buckets.Deliveries.TryGetEntryAsync<byte[]>(entry.Key).ConfigureAwait(false);
        if (read.Success)
        {
            _index.Apply(entry.Key, entry.Subscription, read.Value.Value is { } bytes ? StoredDelivery.Read(bytes) : null, read.Value.Revision, fromWatch: false);
        }
        else if (read.Error is NatsKVKeyNotFoundException or NatsKVKeyDeletedException)
        {
            _index.Apply(entry.Key, entry.Subscription, null, entry.Revision, fromWatch: false);
        }
        else
        {
            throw read.Error;
        }
    }
}
