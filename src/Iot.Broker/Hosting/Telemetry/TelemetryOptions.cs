using OpenTelemetry.Exporter;

namespace Iot.Broker.Hosting.Telemetry;

/// <summary>Settings under <c>Iot:Telemetry</c>: the OTLP export of the broker's metrics and traces (<c>/metrics</c> is always served).</summary>
public sealed class TelemetryOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Telemetry";

    /// <summary>
    /// The OTLP collector to push metrics to, e.g. <c>http://otel-collector:4318</c>. Unset: no OTLP export, unless the
    /// standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> environment variable is set (then that endpoint, with the standard
    /// <c>OTEL_EXPORTER_OTLP_*</c> variables for protocol, headers and timeout).
    /// </summary>
    /// <remarks>
    /// Default unset; an absolute <c>http</c> or <c>https</c> URL. With <see cref="OtlpProtocol"/> <c>HttpProtobuf</c> the
    /// path <c>/v1/metrics</c> is appended unless the URL already ends with it, as for the environment variable.
    /// </remarks>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary>The OTLP transport for <see cref="OtlpEndpoint"/>: <c>HttpProtobuf</c> (port 4318) or <c>Grpc</c> (port 4317).</summary>
    /// <remarks>Default <c>HttpProtobuf</c>, the protocol OpenTelemetry's specification makes the default.</remarks>
    public OtlpExportProtocol OtlpProtocol { get; set; } = OtlpExportProtocol.HttpProtobuf;

    /// <summary>How often the metrics are pushed over OTLP.</summary>
    /// <remarks>Default 15 s; range 1 s to 1 hour. <c>/metrics</c> is read when scraped and does not depend on it.</remarks>
    public TimeSpan OtlpExportInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The share of new traces recorded and exported over OTLP (the broker's spans, <c>docs/operations.md</c> "Tracing");
    /// a trace a caller started and sampled (its <c>traceparent</c> flag) is always continued. 0 turns tracing off: no
    /// span is made at all.
    /// </summary>
    /// <remarks>Default 1 (every trace); range 0 to 1. Spans are exported only when OTLP is configured.</remarks>
    public double TraceSampleRatio { get; set; } = 1;
}
