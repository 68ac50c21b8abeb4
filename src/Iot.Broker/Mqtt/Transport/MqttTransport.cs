using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography.X509Certificates;

namespace Iot.Broker.Mqtt.Transport;

/// <summary>
/// What an <see cref="MqttConnection"/> needs from the network underneath it: where to write, how to wake or abort
/// the receive side, and who is at the other end. Kestrel connections (TLS, WebSocket, and plain TCP when
/// <c>Iot:Mqtt:Transport</c> is <c>kestrel</c>) and the lean socket transport implement it.
/// </summary>
internal abstract class MqttTransport
{
    /// <summary>Where the connection's writer encodes packets; <see cref="PipeWriter.FlushAsync"/> sends them.</summary>
    public abstract PipeWriter Output { get; }

    /// <summary>A short id for logs.</summary>
    public abstract string ConnectionId { get; }

    /// <summary>The peer's address and port, when known.</summary>
    public abstract EndPoint? RemoteEndPoint { get; }

    /// <summary>The client certificate presented during the TLS handshake; null without TLS.</summary>
    public virtual X509Certificate2? ClientCertificate => null;

    /// <summary>Makes the receive side stop waiting for data and end (the connection is closing).</summary>
    public abstract void CancelReceive();

    /// <summary>Drops the connection at once (the peer does not read what it is sent).</summary>
    public abstract void Abort();
}
