using System.Text.Json;
using System.Text.Json.Serialization;
using Iot.Broker.Mqtt.Persistence;

namespace Iot.Broker.Cluster.Sessions;

/// <summary>
/// A persistent session as the cluster stores it: one value in the <c>iot-sessions</c> bucket under
/// <see cref="SessionKey.Escape"/> of its client id. The queued messages are not here: they are in the session's
/// subject of the session stream (<see cref="SessionStreams"/>). Immutable: a change writes a new record with the
/// key-value revision read before (compare-and-set), so a node that lost the session can never overwrite it.
/// </summary>
/// <param name="ClientId">The MQTT client id.</param>
/// <param name="Owner">The identity that owns the session (docs/security.md); empty for anonymous sessions.</param>
/// <param name="ExpirySeconds">Seconds the session outlives its connection; <see cref="uint.MaxValue"/> never expires.</param>
/// <param name="ProtocolVersion">3, 4 or 5.</param>
/// <param name="Node">The node the session is bound to (connected there, or disconnected and looked after by it); null when none.</param>
/// <param name="Epoch">Bumped by every CONNECT that takes the session; a takeover request names it so a late one is ignored.</param>
/// <param name="Connected">A connection is attached on <paramref name="Node"/>.</param>
/// <param name="DisconnectedAtUnixMs">When the last connection ended, Unix ms; 0 while connected.</param>
/// <param name="Subscriptions">The session's subscriptions.</param>
/// <param name="InboundQos2">Packet ids of inbound QoS 2 messages received (PUBREC sent) and not yet released.</param>
/// <param name="Will">The will of the attached connection (<see cref="BrokerMessageSerializer"/>), null when none.</param>
/// <param name="WillDelaySeconds">The will's delay.</param>
/// <param name="OutboundReleased">
/// Outbound QoS 2 messages the client has received (PUBREC) and not yet completed (PUBCOMP): their queue sequence and
/// packet id, so that a node that resumes the session sends PUBREL for them, not the message again. Null when none.
/// </param>
internal sealed record SessionRecord(
    string ClientId,
    string Owner,
    uint ExpirySeconds,
    byte ProtocolVersion,
    string? Node,
    long Epoch,
    bool Connected,
    long DisconnectedAtUnixMs,
    IReadOnlyList<PersistedSubscription> Subscriptions,
    IReadOnlyList<ushort> InboundQos2,
    byte[]? Will = null,
    uint WillDelaySeconds = 0,
    IReadOnlyList<ReleasedMessage>? OutboundReleased = null)
{
    /// <summary>Whether the session's end is due at <paramref name="nowUnixMs"/> (only a disconnected one ends).</summary>
    public bool IsExpired(long nowUnixMs) =>
        !Connected && ExpirySeconds != uint.MaxValue && nowUnixMs - DisconnectedAtUnixMs >= ExpirySeconds * 1000L;

    public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(this, SessionRecordJson.Default.SessionRecord);

    public static SessionRecord FromBytes(ReadOnlySpan<byte> bytes) =>
        JsonSerializer.Deserialize(bytes, SessionRecordJson.Default.SessionRecord)
        ?? throw new InvalidDataException("empty session record");
}

/// <summary>An outbound QoS 2 message past PUBREC: its sequence in the session's queue and the packet id it was sent with.</summary>
internal sealed record ReleasedMessage(long Sequence, ushort PacketId);

/// <summary>The JSON form of <see cref="SessionRecord"/> (source generated: no reflection).</summary>
[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(SessionRecord))]
internal sealed partial class SessionRecordJson : JsonSerializerContext;
