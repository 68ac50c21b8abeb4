using Microsoft.AspNetCore.Connections;
using Iot.Broker.Mqtt.Transport;
using Microsoft.AspNetCore.Connections.Features;

namespace Iot.Broker.Mqtt;

/// <summary>Kestrel's entry point for MQTT over TCP, TLS and WebSocket: one <see cref="MqttConnection"/> per connection.</summary>
internal sealed class MqttConnectionHandler(ConnectionServices broker) : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        // Over WebSocket (Http.Connections) MQTT frames are binary messages.
        if (connection.Features.Get<ITransferFormatFeature>() is { } format)
        {
            format.ActiveFormat = TransferFormat.Binary;
        }

        if (!broker.Admission.TryAcceptFrom(connection.RemoteEndPoint, out var delay))
        {
            connection.Abort();
            return;
        }

        var transport = new KestrelMqttTransport(connection);
        var mqtt = new MqttConnection(transport, broker);
        mqtt.AdmitAfter(delay);
        await transport.RunAsync(mqtt).ConfigureAwait(false);
    }
}
