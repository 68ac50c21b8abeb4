using System.Net;
using Iot.Broker.Security;
using MQTTnet.Formatter;

namespace Iot.Broker.Mqtt;

internal sealed partial class MqttConnection
{
    /// <summary>
    /// A snapshot of this connection for <c>GET /api/clients</c>; null until the CONNECT bound a session. Reads only
    /// fields that are set once during CONNECT (and the session's own counters), so it costs the hot path nothing.
    /// </summary>
    public ConnectedClient? Snapshot()
    {
        var session = _session;
        var principal = _principal;
        if (session is null || principal is null || _closing)
        {
            return null;
        }

        return new ConnectedClient(
            principal.ClientId,
            principal.Username,
            principal.Role,
            ProtocolVersion switch
            {
                MqttProtocolVersion.V500 => "5.0",
                MqttProtocolVersion.V311 => "3.1.1",
                MqttProtocolVersion.V310 => "3.1",
                _ => "unknown",
            },
            RemoteAddress(),
            _keepAlive.ConnectedAtUnixMs,
            _keepAlive.KeepAliveSeconds,
            session.SubscriptionCount,
            session.QueuedCount,
            session.IsPersistent);
    }

    private string? RemoteAddress() => _transport.RemoteEndPoint switch
    {
        // Kestrel listens on [::] (dual stack): show an IPv4 peer as such, not as ::ffff:a.b.c.d.
        IPEndPoint { Address.IsIPv4MappedToIPv6: true } ip => new IPEndPoint(ip.Address.MapToIPv4(), ip.Port).ToString(),
        { } endPoint => endPoint.ToString(),
        null => null,
    };
}

/// <summary>One connected MQTT client as <c>GET /api/clients</c> lists it.</summary>
/// <param name="ClientId">The MQTT client id.</param>
/// <param name="Identity">The authenticated identity; null for anonymous clients.</param>
/// <param name="Role">The identity's role; null for anonymous clients.</param>
/// <param name="ProtocolVersion"><c>3.1</c>, <c>3.1.1</c> or <c>5.0</c>.</param>
/// <param name="RemoteEndPoint">The peer's address and port.</param>
/// <param name="ConnectedAtUnixMs">When the CONNECT was accepted.</param>
/// <param name="KeepAliveSeconds">The keep-alive in force.</param>
/// <param name="Subscriptions">The session's subscriptions.</param>
/// <param name="QueuedMessages">Messages queued or in flight to the client.</param>
/// <param name="PersistentSession">The session outlives the connection.</param>
internal sealed record ConnectedClient(string ClientId, string? Identity, IdentityRole? Role, string ProtocolVersion, string? RemoteEndPoint,
    long ConnectedAtUnixMs, int KeepAliveSeconds, int Subscriptions, int QueuedMessages, bool PersistentSession);
