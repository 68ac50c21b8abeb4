namespace Iot.Broker.Hosting;

/// <summary>The ports the broker actually bound (useful when a port of 0 was configured). Set once the host has started.</summary>
public sealed class BrokerEndpoints
{
    private readonly TaskCompletionSource _bound = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>MQTT over TCP; null when disabled.</summary>
    public int? MqttPort { get; private set; }

    /// <summary>MQTT over TLS; null when no certificate is configured.</summary>
    public int? MqttTlsPort { get; private set; }

    /// <summary>HTTP (API, dashboard, <c>/mqtt</c> WebSocket, metrics).</summary>
    public int HttpPort { get; private set; }

    /// <summary>HTTPS: the same endpoints as <see cref="HttpPort"/>, <c>/mqtt</c> as <c>wss://</c>; null when no certificate is configured.</summary>
    public int? HttpsPort { get; private set; }

    /// <summary>Completes when the ports are known.</summary>
    public Task Bound => _bound.Task;

    internal void Set(int? mqtt, int? mqttTls, int http, int? https)
    {
        HttpsPort = https;
        MqttPort = mqtt;
        MqttTlsPort = mqttTls;
        HttpPort = http;
        _bound.TrySetResult();
    }
}
