using System.Text.Json;
using System.Text.Json.Serialization;

namespace Iot.Routing.Internal.JetStream;

/// <summary>
/// The value of one delivery's key in the deliveries bucket (JSON): the event and its state, pending, locked or
/// dead-lettered. Times are Unix milliseconds.
/// </summary>
/// <remarks>
/// <see cref="Seq"/> is the delivery's place in its subscription's order: 0 when the value was written by the enqueue,
/// whose key revision then is the order (a key's first revision is unique and increases over the bucket); every later
/// write copies it, because a key keeps only its newest revision.
/// </remarks>
internal sealed record StoredDelivery
{
    public long Seq { get; init; }

    public required string EventId { get; init; }

    public required byte[] Event { get; init; }

    public long EnqueuedAt { get; init; }

    public long ExpiresAt { get; init; }

    public int Attempts { get; init; }

    public long NextAttemptAt { get; init; }

    /// <summary>A pull lock or a push claim: the token that settles it.</summary>
    public string? LockToken { get; init; }

    public long? LockedUntil { get; init; }

    public bool DeadLettered { get; init; }

    public string? Reason { get; init; }

    public string? LastOutcome { get; init; }

    public long? DeadLetteredAt { get; init; }

    public byte[] Serialize() => JsonSerializer.SerializeToUtf8Bytes(this, StoredDeliveryJson.Default.StoredDelivery);

    /// <summary>The value of a key; null when it is not one this store writes.</summary>
    public static StoredDelivery? Read(ReadOnlySpan<byte> value)
    {
        try
        {
            return JsonSerializer.Deserialize(value, StoredDeliveryJson.Default.StoredDelivery);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The record handed to callers.</summary>
    public DeliveryRecord ToRecord(string subscription, long seq, ulong revision) => new()
    {
        Seq = seq,
        Subscription = subscription,
        EventId = EventId,
        Event = Event,
        EnqueuedAt = EnqueuedAt,
        ExpiresAt = ExpiresAt,
        Attempts = Attempts,
        NextAttemptAt = NextAttemptAt,
        LockToken = LockToken,
        LockedUntil = LockedUntil,
        Reason = Reason,
        LastOutcome = LastOutcome,
        DeadLetteredAt = DeadLetteredAt,
        Version = (long)revision,
    };
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(StoredDelivery))]
internal sealed partial class StoredDeliveryJson : JsonSerializerContext;
