using Iot.Broker.Mqtt.Persistence;

namespace Iot.Broker.Mqtt;

/// <summary>
/// What <see cref="SessionManager"/> asks of cluster mode (implemented in <c>Cluster/Sessions</c>, absent in
/// single-process mode): a CONNECT claims the client id cluster-wide before the session is bound here, a bound
/// persistent session reads its queued QoS 1/2 messages from JetStream, and an ended session is removed cluster-wide.
/// See docs/adr/0009-cluster-sessions.md.
/// </summary>
/// <remarks>
/// No member is called under a lock that a callback could need: <see cref="ClaimAsync"/> is awaited before the
/// manager takes its lock; <see cref="Bound"/> and <see cref="Ended"/> only start or stop work and return at once.
/// </remarks>
internal interface IClusterSessions
{
    /// <summary>
    /// Takes the client id for this node (a compare-and-set that bumps the session's epoch), asks the node that had it to
    /// close its connection with 0x8E, and returns the stored session to resume, or why the CONNECT is refused. The
    /// <paramref name="will"/> is stored with the record: if this node dies, the node that claims it publishes it.
    /// </summary>
    Task<ClusterClaim> ClaimAsync(string clientId, string? identity, bool cleanStart, uint sessionExpiry, byte protocolVersion, ClientWill? will);

    /// <summary>The session is bound here: a persistent one starts reading its queue from JetStream.</summary>
    void Bound(MqttSession session);

    /// <summary>The session ended (or was taken over): stop reading, and delete its record if this node still owns it.</summary>
    void Ended(MqttSession session, bool deleteRecord);

    /// <summary>
    /// The delayed will of a disconnected session held here is due: removes it from the record first (so a node that
    /// claims this one after it dies does not publish it again); true when the caller is to publish it, false when
    /// another node took the session meanwhile (the client came back there).
    /// </summary>
    Task<bool> TakeWillAsync(string clientId);

    /// <summary>Registers who closes a local session taken over by another node (the session manager).</summary>
    void SetTakeoverHandler(Func<string, long, bool, bool> takenOver);
}

/// <summary>The outcome of <see cref="IClusterSessions.ClaimAsync"/>.</summary>
/// <param name="Refusal">Why the CONNECT is refused; <see cref="SessionRefusal.None"/> when claimed.</param>
/// <param name="Resumed">A stored session is resumed (session present).</param>
/// <param name="Epoch">The session's epoch after the claim: a takeover with a higher one supersedes this one.</param>
/// <param name="Subscriptions">The resumed session's subscriptions.</param>
/// <param name="InboundQos2">The resumed session's inbound QoS 2 packet ids awaiting PUBREL.</param>
/// <param name="OutboundReleased">
/// The resumed session's outbound QoS 2 messages past PUBREC, as queue sequence and packet id: PUBREL is sent for them.
/// </param>
internal sealed record ClusterClaim(
    SessionRefusal Refusal,
    bool Resumed,
    long Epoch,
    IReadOnlyList<PersistedSubscription> Subscriptions,
    IReadOnlyList<ushort> InboundQos2,
    IReadOnlyDictionary<long, ushort>? OutboundReleased = null)
{
    public static ClusterClaim Refused(SessionRefusal refusal) => new(refusal, false, 0, [], []);
}
