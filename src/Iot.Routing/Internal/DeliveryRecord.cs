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
}
