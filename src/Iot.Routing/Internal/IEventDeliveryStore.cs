namespace Iot.Routing.Internal;

/// <summary>
/// The events waiting for event subscriptions: pending deliveries (pushed to webhooks by a delivery loop, or taken by
/// pull receivers under a lock), dead letters, and the per-subscription quota that bounds them. Times are Unix ms.
/// </summary>
/// <remarks>
/// Every task completes when its change is durable, so a publisher acknowledged after <see cref="EnqueueAsync"/> loses
/// nothing on a crash. Deliveries of a subscription are handed out oldest first. A pending delivery counts against its
/// subscription's quota (<see cref="MaxPendingEvents"/>, <see cref="MaxPendingBytes"/>) until it is delivered, dropped
/// or dead-lettered; dead letters beyond <see cref="MaxDeadLetteredEvents"/> evict the subscription's oldest.
/// </remarks>
internal interface IEventDeliveryStore
{
    /// <summary>Pending events one subscription may hold; a delivery beyond it is not recorded.</summary>
    int MaxPendingEvents { get; }

    /// <summary>Bytes of pending events one subscription may hold; a delivery beyond it is not recorded.</summary>
    long MaxPendingBytes { get; }

    /// <summary>Dead letters one subscription may hold; dead-lettering beyond it deletes that subscription's oldest.</summary>
    int MaxDeadLetteredEvents { get; }

    /// <summary>
    /// Records deliveries; completes when they are durable. A delivery for a subscription that holds
    /// <see cref="MaxPendingEvents"/> pending events or would exceed <see cref="MaxPendingBytes"/> is not recorded: the
    /// result lists those subscriptions (null when every delivery was recorded).
    /// </summary>
    Task<List<string>?> EnqueueAsync(IReadOnlyList<PendingDelivery> deliveries);

    /// <summary>Pending, unlocked deliveries of a subscription that are due at <paramref name="now"/>, oldest first.</summary>
    Task<List<DeliveryRecord>> GetDueAsync(string subscription, long now, int max);

    /// <summary>The earliest next attempt time among the pending deliveries of a subscription; null when none.</summary>
    Task<long?> GetNextDueAsync(string subscription);

    /// <summary>
    /// Claims due deliveries (from <see cref="GetDueAsync"/>) for one push attempt, for <paramref name="claimDuration"/> ms:
    /// those returned are this caller's to send, and are not due for anyone else until the claim ends or the outcome is
    /// recorded. A delivery changed since it was read (claimed, delivered or dead-lettered by another node) is left out.
    /// In one process there is only one delivery loop per subscription, so a store may return the deliveries unchanged.
    /// </summary>
    Task<List<DeliveryRecord>> ClaimAsync(IReadOnlyList<DeliveryRecord> deliveries, long now, long claimDuration);

    /// <summary>Removes pending deliveries (delivered, or dropped without dead-lettering); the number removed.</summary>
    Task<int> DeleteAsync(IReadOnlyCollection<DeliveryRecord> deliveries);

    /// <summary>Records a failed attempt: new attempt count and next attempt time per delivery.</summary>
    Task<int> RecordFailuresAsync(IReadOnlyList<(long Seq, int Attempts, long NextAttemptAt)> failures, string outcome);

    /// <summary>
    /// Moves pending deliveries to the dead letters with a reason, their attempt count (plus <paramref name="extraAttempts"/>)
    /// and the last outcome; the number moved.
    /// </summary>
    Task<int> DeadLetterAsync(IReadOnlyList<DeliveryRecord> deliveries, int extraAttempts, string reason, string? outcome, long now);

    /// <summary>Dead letters of a subscription, oldest first (by the time they were dead-lettered, the order they are evicted in).</summary>
    Task<List<DeliveryRecord>> ListDeadLettersAsync(string subscription, int max);

    /// <summary>Puts dead letters back as new pending deliveries (all, or those whose event id is listed); the number put back.</summary>
    Task<int> RedeliverAsync(string subscription, IReadOnlyCollection<string>? eventIds, long now, long expiresAt);

    /// <summary>Pending and dead-lettered counts of a subscription.</summary>
    Task<(long Pending, long DeadLettered)> CountAsync(string subscription);

    /// <summary>The pending count and bytes of a subscription as the quota sees them (for tests and diagnostics).</summary>
    Task<(long Events, long Bytes)> GetPendingQuotaAsync(string subscription);

    /// <summary>
    /// Locks up to <paramref name="max"/> available deliveries of a pull subscription for <paramref name="lockDuration"/>
    /// ms. Deliveries past their TTL or already delivered <paramref name="maxDeliveryCount"/> times are dead-lettered
    /// (or dropped when <paramref name="deadLetter"/> is false) instead.
    /// </summary>
    Task<List<DeliveryRecord>> ReceiveAsync(string subscription, int max, long now, long lockDuration, int maxDeliveryCount, bool deadLetter);

    /// <summary>Acknowledges (deletes) deliveries by lock token; an expired or unknown token fails.</summary>
    Task<LockTokenResult> AcknowledgeAsync(string subscription, IReadOnlyList<string> lockTokens, long now);

    /// <summary>Releases deliveries by lock token so that they can be received again after <paramref name="delay"/> ms.</summary>
    Task<LockTokenResult> ReleaseAsync(string subscription, IReadOnlyList<string> lockTokens, long now, long delay);

    /// <summary>Rejects deliveries by lock token: dead-lettered (reason <c>Rejected</c>), or dropped when dead-lettering is off.</summary>
    Task<LockTokenResult> RejectAsync(string subscription, IReadOnlyList<string> lockTokens, long now, bool deadLetter);

    /// <summary>Extends locks to <paramref name="now"/> + <paramref name="lockDuration"/> ms.</summary>
    Task<LockTokenResult> RenewLockAsync(string subscription, IReadOnlyList<string> lockTokens, long now, long lockDuration);
}
