using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.Mqtt;

/// <summary>What DISCONNECT may change at the end of an MQTT 5 connection (<see cref="ClientDeparture.OnDisconnect"/>).</summary>
internal enum DepartureVerdict
{
    /// <summary>Nothing more to do.</summary>
    Done,

    /// <summary>DISCONNECT asks for this session expiry: set it (capped by the caller).</summary>
    SetSessionExpiry,

    /// <summary>DISCONNECT set a session expiry after CONNECT set 0 (MQTT 5 §3.14.2.2.2): a protocol error; the will is published.</summary>
    ProtocolError,
}

/// <summary>
/// What the end of a client's connection depends on, settled by CONNECT and changed by DISCONNECT: the will and
/// whether it is published at close (yes unless the client said DISCONNECT 0x00), whether the client said DISCONNECT
/// at all, the session expiry CONNECT settled (a session that was not persistent cannot become so at DISCONNECT), and
/// when the crossover "connected" event was raised (so the "disconnected" event says for how long). A struct kept in
/// the connection: call its members on the field, never on a copy.
/// </summary>
internal struct ClientDeparture
{
    private uint _connectSessionExpiry;
    private long _connectedEventAt;
    private bool _willCancelled;

    /// <summary>The will CONNECT carried; null when none.</summary>
    public ClientWill? Will { get; private set; }

    /// <summary>The client sent DISCONNECT (whatever its reason code).</summary>
    public bool ClientDisconnected { get; private set; }

    /// <summary>The will to publish at close: the client's will unless a normal DISCONNECT cancelled it.</summary>
    public readonly ClientWill? WillToPublish => _willCancelled ? null : Will;

    /// <summary>Whether a normal DISCONNECT cancelled the will (for the log).</summary>
    public readonly bool WillCancelled => _willCancelled;

    /// <summary>Whether the connected event was raised (and so the disconnected event is due).</summary>
    public readonly bool ConnectedEventRaised => _connectedEventAt != 0;

    /// <summary>When the connected event was raised (a <see cref="TimeProvider"/> timestamp); 0 when it was not.</summary>
    public readonly long ConnectedEventAt => _connectedEventAt;

    /// <summary>CONNECT was accepted with this will and session expiry.</summary>
    public void Connected(ClientWill? will, uint sessionExpiry)
    {
        Will = will;
        _connectSessionExpiry = sessionExpiry;
    }

    /// <summary>The connected event was raised at <paramref name="timestamp"/>.</summary>
    public void ConnectedEventRaisedAt(long timestamp) => _connectedEventAt = Math.Max(1, timestamp);

    /// <summary>
    /// The client sent DISCONNECT: the will is published only for reason 0x04 (or a protocol error); an MQTT 5 session
    /// expiry in it may change the session's, not from 0.
    /// </summary>
    public DepartureVerdict OnDisconnect(MqttDisconnectPacket disconnect, bool v5)
    {
        ClientDisconnected = true;
        _willCancelled = disconnect.ReasonCode != MqttDisconnectReasonCode.DisconnectWithWillMessage;
        if (!v5 || disconnect.SessionExpiryInterval == 0)
        {
            return DepartureVerdict.Done;
        }

        if (_connectSessionExpiry == 0)
        {
            _willCancelled = false;
            return DepartureVerdict.ProtocolError;
        }

        return DepartureVerdict.SetSessionExpiry;
    }
}
