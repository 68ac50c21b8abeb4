using System.ComponentModel.DataAnnotations;

namespace Iot.Broker.Hosting;

/// <summary>Settings under <c>Iot:Http</c>.</summary>
public sealed class HttpOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Http";

    /// <summary>HTTP port: API, dashboard, <c>/mqtt</c> WebSocket, <c>/healthz</c>, <c>/metrics</c>.</summary>
    /// <remarks>Default 8080; 0 picks a free port (logged at start-up); range 0-65535.</remarks>
    [Range(0, 65535)]
    public int Port { get; set; } = 8080;

    /// <summary>
    /// HTTPS port: the same endpoints as <see cref="Port"/> over TLS, MQTT over secure WebSocket at <c>wss://host:port/mqtt</c>;
    /// served only when <see cref="TlsCertificatePath"/> is set.
    /// </summary>
    /// <remarks>Default 8443; 0 picks a free port (logged at start-up, written to the ports file as <c>https</c>); range 0-65535.</remarks>
    [Range(0, 65535)]
    public int TlsPort { get; set; } = 8443;

    /// <summary>PFX/PKCS#12 or PEM certificate file for the HTTPS listener; set, it turns the listener on.</summary>
    /// <remarks>
    /// Default none (no HTTPS listener). It does not fall back to <c>Iot:Mqtt:TlsCertificatePath</c>: that would open a
    /// new port on every broker that serves MQTT over TLS today, and the two listeners often face different names (a
    /// device endpoint and a web host). Give the same file to both settings to share one certificate. Loaded as the MQTT
    /// TLS listener's: with <see cref="TlsKeyPath"/> for PEM, else as PFX with <see cref="TlsCertificatePassword"/>.
    /// The listener asks for no client certificate (wss:// clients authenticate with a user name and password).
    /// </remarks>
    public string? TlsCertificatePath { get; set; }

    /// <summary>PEM private key file when <see cref="TlsCertificatePath"/> is a PEM certificate.</summary>
    /// <remarks>Default none.</remarks>
    public string? TlsKeyPath { get; set; }

    /// <summary>Password of the PFX file.</summary>
    /// <remarks>Default none.</remarks>
    public string? TlsCertificatePassword { get; set; }

    /// <summary>The largest HTTP request body; a larger one is answered 413 (problem details) and counted.</summary>
    /// <remarks>
    /// Default 31 457 280 (30 MiB, Kestrel's default); range 1 024 to 1 073 741 824. Endpoints with smaller limits of
    /// their own (a command payload: 256 KiB) keep them. Counted as <c>iot_mqtt_limit_hits_total{limit="http_request_body"}</c>.
    /// </remarks>
    [Range(1024, 1L << 30)]
    public long MaxRequestBodyBytes { get; set; } = 30L * 1024 * 1024;

    /// <summary>
    /// How much of a refused body (beyond <see cref="MaxRequestBodyBytes"/>) the broker still reads and drops after its
    /// 413, so that a client still writing the body gets the answer instead of a connection reset.
    /// </summary>
    /// <remarks>
    /// Default 1 048 576 (1 MiB); range 0 to 1 073 741 824; 0 closes the connection at once, as Kestrel does. A body
    /// declared larger than the two together is answered and the connection closed without reading it. Closing a TCP
    /// connection with unread data makes the kernel send a reset, which discards the answer already in the client's
    /// receive buffer (nginx's <c>lingering_close</c> exists for the same reason). Reading is bounded in time too:
    /// Kestrel drains for at most 5 s.
    /// </remarks>
    [Range(0, 1L << 30)]
    public long RequestBodyDrainBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Requests per second to <c>/api</c> that one caller may make on average: per identity (its API key), or per client
    /// address for requests without valid credentials. Beyond it (and its <see cref="ApiRequestBurst"/>) the broker
    /// answers 429 with <c>Retry-After</c>, records nothing in the audit log, and counts
    /// <c>iot_mqtt_limit_hits_total{limit="http_api_rate"}</c>; other callers are not affected.
    /// </summary>
    /// <remarks>Default 1 000; range 0 to 1 000 000; 0 turns the limit off. <c>/healthz</c>, <c>/metrics</c>, <c>/mqtt</c> and the dashboard are not limited.</remarks>
    [Range(0, 1_000_000)]
    public int ApiRequestsPerSecond { get; set; } = 1000;

    /// <summary>How many requests one caller may make at once above <see cref="ApiRequestsPerSecond"/> (the token bucket's size).</summary>
    /// <remarks>Default 2 000; range 1 to 1 000 000.</remarks>
    [Range(1, 1_000_000)]
    public int ApiRequestBurst { get; set; } = 2000;
}
