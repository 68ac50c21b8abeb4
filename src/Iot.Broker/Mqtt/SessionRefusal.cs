namespace Iot.Broker.Mqtt;

/// <summary>Why <see cref="SessionManager.ConnectAsync"/> refused to bind a session.</summary>
internal enum SessionRefusal
{
    /// <summary>Not refused.</summary>
    None,

    /// <summary>The session belongs to another identity (0x85 Client Identifier not valid).</summary>
    OwnedByAnotherIdentity,

    /// <summary><see cref="MqttOptions.MaxPersistentSessionsPerIdentity"/> (0x97 Quota exceeded).</summary>
    PersistentSessionQuota,

    /// <summary>
    /// Cluster mode: <see cref="MqttOptions.MaxConnectionsPerIdentity"/> counted over every node's connections
    /// (0x97 Quota exceeded).
    /// </summary>
    ConnectionQuota,

    /// <summary>Cluster mode: a newer CONNECT with the client id, on this or another node, took the session first; or the
    /// cluster could not store the claim (0x88 Server unavailable; the client retries).</summary>
    ClusterUnavailable,
}
