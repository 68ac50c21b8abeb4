using System.IO.Pipelines;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Iot.Broker.Mqtt.Transport;

/// <summary>A Kestrel connection (TCP, TLS or WebSocket) seen as an <see cref="MqttTransport"/>.</summary>
internal sealed class KestrelMqttTransport(ConnectionContext connection) : MqttTransport
{
    public PipeReader Input => connection.Transport.Input;

    public override PipeWriter Output => connection.Transport.Output;

    public override string ConnectionId => connection.ConnectionId;

    public override EndPoint? RemoteEndPoint => connection.RemoteEndPoint;

    public override X509Certificate2? ClientCertificate => connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate;

    public override void CancelReceive() => connection.Transport.Input.CancelPendingRead();

    public override void Abort() => connection.Abort();
}
