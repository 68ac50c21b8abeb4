namespace Iot.Broker.Mqtt.Persistence;

/// <summary>
/// Durable state of persistent MQTT sessions and retained messages. Every write is queued and committed in
/// groups; the returned task completes once the write is on disk (or faults if the commit failed), so a caller
/// acknowledges a client only after awaiting it. Callers that need no acknowledgement may ignore the task.
/// Writes are applied in the order they are called.
/// </summary>
/// <remarks>
/// Sessions call the writes while holding their lock, so that a session's writes are queued in the order it decides
/// them: a write only queues (under at most the store's own lock, a leaf in the lock order), never blocks on the disk
/// and never calls back; the returned task completes its continuations asynchronously.
/// </remarks>
internal interface ISessionStore : IAsyncDisposable
{
    /// <summary>Reads everything persisted; called once at start-up before any write.</summary>
    Task<StoreSnapshot> LoadAsync(CancellationToken cancellationToken);

    Task UpsertSessionAsync(PersistedSession session);

    /// <summary>Deletes the session with its subscriptions and queued messages.</summary>
    Task DeleteSessionAsync(string clientId);

    Task UpsertSubscriptionAsync(string clientId, PersistedSubscription subscription);

    Task DeleteSubscriptionAsync(string clientId, string filter);

    /// <summary>Stores a message queued for a session under a per-session sequence number (ascending).</summary>
    Task AppendMessageAsync(string clientId, long sequence, BrokerMessage message);

    /// <summary>Records that a QoS 2 message was received by the client (PUBREC), so a restart resends PUBREL.</summary>
    Task MarkReleasedAsync(string clientId, long sequence, ushort packetId);

    Task DeleteMessageAsync(string clientId, long sequence);

    /// <summary>
    /// Records the inbound QoS 2 packet ids awaiting PUBREL (cluster mode, so that they survive the loss of the node).
    /// The SQLite store keeps them in memory only, as before: nothing to do.
    /// </summary>
    Task SetInboundQos2Async(string clientId, ushort[] packetIds) => Task.CompletedTask;

    /// <summary>Sets (or replaces) the retained message of <see cref="BrokerMessage.Topic"/>, charged to the identity
    /// <paramref name="owner"/> (null: the broker's own).</summary>
    Task SetRetainedAsync(BrokerMessage message, string? owner = null);

    Task DeleteRetainedAsync(string topic);
}

/// <summary>A persistent session as stored.</summary>
/// <param name="ClientId">The MQTT client id.</param>
/// <param name="SessionExpiryInterval">Seconds the session outlives its connection; <see cref="uint.MaxValue"/> never expires.</param>
/// <param name="DisconnectedAtUnixMs">When the client disconnected, Unix ms; null while connected (a crash counts as a disconnect at restart).</param>
/// <param name="ProtocolVersion">3 (3.1), 4 (3.1.1) or 5.</param>
/// <param name="Owner">
/// The identity that owns the session (docs/security.md); empty for anonymous sessions; null for sessions
/// stored before owners were recorded.
/// </param>
/// <param name="WillPending">
/// The connection that ended left a will waiting for its delay: cluster mode keeps it in the session's record, so that
/// the node that claims this one after it dies publishes it in time.
/// </param>
internal sealed record PersistedSession(string ClientId, uint SessionExpiryInterval, long? DisconnectedAtUnixMs, byte ProtocolVersion, string? Owner = null,
    bool WillPending = false)
{
    /// <summary>
    /// Cluster mode: the epoch of the claim the writing session object came from (<see cref="MqttSession.ClusterEpoch"/>);
    /// the write is refused when the client id has been claimed again since (0: not checked).
    /// </summary>
    public long ClusterEpoch { get; init; }
}

/// <summary>A subscription of a persistent session, with its MQTT 5 options.</summary>
internal sealed record PersistedSubscription(
    string Filter,
    byte QualityOfService,
    bool NoLocal,
    bool RetainAsPublished,
    byte RetainHandling,
    uint SubscriptionIdentifier);

/// <summary>A message queued for a persistent session.</summary>
/// <param name="Sequence">Per-session order.</param>
/// <param name="PacketId">The packet id of a released QoS 2 message (PUBREC received), else 0.</param>
/// <param name="Released">True when the client sent PUBREC and only PUBREL/PUBCOMP remain.</param>
/// <param name="Message">The message.</param>
internal sealed record PersistedMessage(long Sequence, ushort PacketId, bool Released, BrokerMessage Message);

/// <summary>One session with everything that belongs to it.</summary>
internal sealed record PersistedSessionState(
    PersistedSession Session,
    IReadOnlyList<PersistedSubscription> Subscriptions,
    IReadOnlyList<PersistedMessage> Messages);

/// <summary>Everything the store held at start-up.</summary>
/// <param name="Sessions">The persistent sessions.</param>
/// <param name="Retained">The retained messages.</param>
/// <param name="RetainedOwners">The owner of each retained topic that has one stored (records written before owners
/// were stored have none).</param>
internal sealed record StoreSnapshot(
    IReadOnlyList<PersistedSessionState> Sessions,
    IReadOnlyList<BrokerMessage> Retained,
    IReadOnlyDictionary<string, string>? RetainedOwners = null);
