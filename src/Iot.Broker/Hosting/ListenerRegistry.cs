using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Iot.Broker.Hosting;

/// <summary>Holds Kestrel's listen options so that the bound ports can be read after start.</summary>
internal sealed class ListenerRegistry
{
    public ListenOptions? Mqtt { get; set; }

    /// <summary>The port of the plain MQTT listener on the socket transport.</summary>
    public int? MqttSocketPort { get; set; }

    public ListenOptions? MqttTls { get; set; }

    public ListenOptions? Http { get; set; }

    /// <summary>HTTPS (and <c>wss://</c>); null unless <c>Iot:Http:TlsCertificatePath</c> is set.</summary>
    public ListenOptions? Https { get; set; }
}
