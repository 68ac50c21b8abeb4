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
}
