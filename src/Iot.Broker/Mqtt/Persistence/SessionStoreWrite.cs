namespace Iot.Broker.Mqtt.Persistence;

/// <summary>One queued write. <see cref="Key"/> is the client id, or the topic for retained messages.</summary>
internal readonly record struct SessionStoreWrite(SessionStoreWriteKind Kind, string Key)
{
    public string? Text { get; init; }

    public long Sequence { get; init; }

    public ushort PacketId { get; init; }

    public byte[]? Record { get; init; }

    /// <summary>The identity a retained message is charged to.</summary>
    public string? Owner { get; init; }

    public PersistedSession? Session { get; init; }

    public PersistedSubscription? Subscription { get; init; }

    /// <summary>Approximate bytes the write adds to a batch, for the batch size cap.</summary>
    public long Size => 64 + (Record?.Length ?? 0);
}
