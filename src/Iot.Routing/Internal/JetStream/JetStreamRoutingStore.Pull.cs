using NATS.Client.KeyValueStore;

namespace Iot.Routing.Internal.JetStream;

internal sealed partial class JetStreamRoutingStore
{
    private const int IdLength = 32;
    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdef");

    // A receive whose every candidate was taken by another node in the meantime looks again, this many times at most.
    private const int MaxReceiveRounds = 8;

    /// <inheritdoc/>
    public async Task<List<DeliveryRecord>> ReceiveAsync(string subscription, int max, long now, long lockDuration, int maxDeliveryCount, bool deadLetter)
    {
        await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        var locked = new List<DeliveryRecord>(max);
        bool evictionsDue = false;
        for (int round = 0; round < MaxReceiveRounds && locked.Count < max; round++)
        {
            var candidates = _index.Due(subscription, now, max - locked.Count);
            if (candidates.Count == 0)
            {
                break;
            }

            foreach (var entry in candidates)
            {
                var value = entry.Value;
                string? reason = value.ExpiresAt <= now ? DeadLetterReasons.TimeToLiveExceeded
                    : value.Attempts >= maxDeliveryCount ? DeadLetterReasons.MaxDeliveryCountExceeded
                    : null;
                if (reason is not null)
                {
                    var outcome = value.LockToken is null ? null : "lock expired";
                    if (deadLetter)
                    {
                        evictionsDue |= await TryUpdateAsync(entry, DeadLettered(value, value.Attempts, reason, outcome, now), entry.Revision).ConfigureAwait(false) is not null;
                    }
                    else
                    {
                        await TryDeleteAsync(entry, entry.Revision).ConfigureAwait(false);
                    }

                    continue;
                }

                var token = NewLockToken(entry.Key);
                var next = value with { LockToken = token, LockedUntil = now + lockDuration, Attempts = value.Attempts + 1, LastOutcome = "received" };
                if (await TryUpdateAsync(entry, next, entry.Revision).ConfigureAwait(false) is { } revision)
                {
                    locked.Add((next with { Seq = entry.Seq }).ToRecord(subscription, entry.Seq, revision));
                }
            }
        }

        if (evictionsDue)
        {
            await EvictBeyondCapAsync(subscription).ConfigureAwait(false);
        }

        return locked;
    }

    /// <inheritdoc/>
    public Task<LockTokenResult> AcknowledgeAsync(string subscription, IReadOnlyList<string> lockTokens, long now) =>
        SettleAsync(subscription, lockTokens, now, async (entry, revision) => await TryDeleteAsync(entry, revision).ConfigureAwait(false));

    /// <inheritdoc/>
    public Task<LockTokenResult> ReleaseAsync(string subscription, IReadOnlyList<string> lockTokens, long now, long delay) =>
        SettleAsync(subscription, lockTokens, now, async (entry, revision) => await TryUpdateAsync(entry,
            entry.Value with { LockToken = null, LockedUntil = null, NextAttemptAt = now + delay, LastOutcome = "released" }, revision).ConfigureAwait(false) is not null);

    /// <inheritdoc/>
    public async Task<LockTokenResult> RejectAsync(string subscription, IReadOnlyList<string> lockTokens, long now, bool deadLetter)
    {
        var result = await SettleAsync(subscription, lockTokens, now, async (entry, revision) => deadLetter
            ? await TryUpdateAsync(entry, DeadLettered(entry.Value, entry.Value.Attempts, DeadLetterReasons.Rejected, "rejected by the receiver", now), revision)
                .ConfigureAwait(false) is not null
            : await TryDeleteAsync(entry, revision).ConfigureAwait(false)).ConfigureAwait(false);
        if (deadLetter && result.Succeeded.Count > 0)
        {
            await EvictBeyondCapAsync(subscription).ConfigureAwait(false);
        }

        return result;
    }

    /// <inheritdoc/>
    public Task<LockTokenResult> RenewLockAsync(string subscription, IReadOnlyList<string> lockTokens, long now, long lockDuration) =>
        SettleAsync(subscription, lockTokens, now, async (entry, revision) =>
            await TryUpdateAsync(entry, entry.Value with { LockedUntil = now + lockDuration }, revision).ConfigureAwait(false) is not null);

    // A token names its delivery's key (the key's id, then 32 random hex digits), so any node can settle it.
    private static string NewLockToken(string key) => key[(key.LastIndexOf('.') + 1)..] + Guid.NewGuid().ToString("N");

    // Settles each token: reads its key from the bucket (not from this node's view, which may not have seen the lock
    // yet), checks the lock, and changes the delivery compared with the revision read. A change that loses to another
    // node's in between (a renew, say) is read again, up to three times.
    private async Task<LockTokenResult> SettleAsync(string subscription, IReadOnlyList<string> lockTokens, long now,
        Func<DeliveryIndex.Entry, ulong, Task<bool>> settle)
    {
        ArgumentNullException.ThrowIfNull(lockTokens);
        await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        var succeeded = new List<string>();
        var failed = new List<(string, string)>();
        foreach (var lockToken in lockTokens)
        {
            string? error = "The lock token is unknown, or the event was settled already.";
            if (lockToken is { Length: IdLength * 2 } && !lockToken.AsSpan().ContainsAnyExcept(HexDigits))
            {
                var key = KeyNames.Escape(subscription) + "." + lockToken[..IdLength];
                for (int attempt = 0; attempt < 3; attempt++)
                {
                    var read = await _buckets.Deliveries.TryGetEntryAsync<byte[]>(key).ConfigureAwait(false);
                    if (!read.Success)
                    {
                        if (read.Error is not (NatsKVKeyNotFoundException or NatsKVKeyDeletedException))
                        {
                            throw read.Error;
                        }

                        break;
                    }

                    if (read.Value.Value is not { } bytes || StoredDelivery.Read(bytes) is not { DeadLettered: false } value || value.LockToken != lockToken)
                    {
                        break;
                    }

                    if (value.LockedUntil <= now)
                    {
                        error = "The lock expired; the event is available to receivers again.";
                        break;
                    }

                    var held = _index.ByKey(key);
                    var entry = new DeliveryIndex.Entry(key, subscription, value.Seq != 0 ? value.Seq : held?.Seq ?? (long)read.Value.Revision,
                        read.Value.Revision, value);
                    _index.Apply(key, subscription, value, read.Value.Revision, fromWatch: false);
                    if (await settle(entry, read.Value.Revision).ConfigureAwait(false))
                    {
                        error = null;
                        break;
                    }
                }
            }

            if (error is null)
            {
                succeeded.Add(lockToken!);
            }
            else
            {
                failed.Add((lockToken ?? "", error));
            }
        }

        return new LockTokenResult(succeeded, failed);
    }
}
