namespace Iot.Routing.Internal;

/// <summary>A stored delivery (pending, locked or dead-lettered). Times are Unix milliseconds.</summary>
internal sealed class DeliveryRecord
{
    public long Seq { get; init; }

    public required string Subscription { get; init; }

    public required string EventId { get; init; }

    public required byte[] Event { get; init; }

    public long EnqueuedAt { get; init; }

    public long ExpiresAt { get; init; }

    public int Attempts { get; set; }

    public long NextAttemptAt { get; init; }

    public string? LockToken { get; set; }

    public long? LockedUntil { get; set; }

    public string? Reason { get; init; }

    public string? LastOutcome { get; init; }

    public long? DeadLetteredAt { get; init; }

    /// <summary>
    /// The store's version of the record when it was read (JetStream: its key's revision), compared when the record is
    /// changed through it, so a change based on an outdated read fails; 0 when the store keeps no versions (SQLite).
    /// </summary>
    public long Version { get; set; }
}
