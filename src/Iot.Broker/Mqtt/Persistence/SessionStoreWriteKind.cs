namespace Iot.Broker.Mqtt.Persistence;

/// <summary>What a queued <see cref="SessionStoreWrite"/> does.</summary>
internal enum SessionStoreWriteKind
{
    UpsertSession,
    DeleteSession,
    UpsertSubscription,
    DeleteSubscription,
    AppendMessage,
    MarkReleased,
    DeleteMessage,
    SetRetained,
    DeleteRetained,
}
