using System.Diagnostics.Metrics;
using Iot.Broker.Mqtt;
using Iot.Messaging.Telemetry;
using Iot.Routing.Hosting;
using Iot.Streams.Hosting;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Iot.Broker.Hosting.Telemetry;

/// <summary>
/// The OpenTelemetry SDK of the broker: its meters, <c>/metrics</c> in the Prometheus text format (OpenTelemetry's
/// Prometheus exporter) and, when configured, OTLP. Tracing is added to the same builder (<c>.WithTracing(...)</c>).
/// </summary>
public static class TelemetryServiceCollectionExtensions
{
    /// <summary>The service name in the resource (OTLP) and <c>target_info</c>; <c>OTEL_SERVICE_NAME</c> overrides it.</summary>
    public const string ServiceName = "iot-broker";

    /// <summary>Series one instrument of the broker's meters may have (the largest, <c>iot_mqtt_limit</c>, has 25).</summary>
    internal const int CardinalityLimit = 100;

    /// <summary>Series one instrument of <c>Iot.Streams</c> may have: streams x windows x partitions.</summary>
    internal const int StreamsCardinalityLimit = 1000;

    /// <summary>The meters this host exports: the broker's own, and ASP.NET Core's and Kestrel's built-in ones.</summary>
    internal static readonly string[] MeterNames =
    [
        BrokerMetrics.MeterName, IotInstruments.RuntimeMeterName, RoutingMetrics.MeterName, StreamsMetrics.MeterName, IotInstruments.ClusterMeterName,
        "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel",
    ];

    /// <summary>
    /// Adds the metrics: every instrument of <see cref="MeterNames"/> this host's <see cref="IMeterFactory"/> created, the
    /// Prometheus exporter (map it with <see cref="MapIotMetrics"/>) and the OTLP exporter when
    /// <c>Iot:Telemetry:OtlpEndpoint</c> or <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set.
    /// </summary>
    /// <returns>The OpenTelemetry builder, for more signals (<c>.WithTracing(...)</c>).</returns>
    public static IOpenTelemetryBuilder AddIotTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<TelemetryOptions>().Bind(configuration.GetSection(TelemetryOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TelemetryOptions>, TelemetryOptionsValidator>());
        services.AddHostedService<IotInstruments>();

        // The SDK listens through Microsoft.Extensions.Diagnostics' rules, scoped to this host's meter factory: two
        // brokers in one process (the integration tests) never read each other's instruments.
        services.AddMetrics(metrics =>
        {
            foreach (var name in MeterNames)
            {
                metrics.EnableMetrics(name, instrumentName: null, listenerName: "OpenTelemetry", MeterScope.Local);
            }
        });

        var otlp = !string.IsNullOrWhiteSpace(configuration[$"{TelemetryOptions.SectionName}:OtlpEndpoint"])
            || !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var builder = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(
                configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } name ? name : ServiceName,
                serviceVersion: typeof(IotInstruments).Assembly.GetName().Version?.ToString()))
            .WithMetrics(metrics =>
            {
                // The SDK allocates every stream's series up front (2 000 by default, per instrument and per exporter):
                // the broker's own instruments have a few dozen series at most, the streams' one per stream, window and
                // partition. ASP.NET Core's and Kestrel's keep the default.
                metrics.AddView(instrument => instrument.Meter.Name switch
                {
                    StreamsMetrics.MeterName => new MetricStreamConfiguration { CardinalityLimit = StreamsCardinalityLimit },
                    _ when instrument.Meter.Name.StartsWith("Iot.", StringComparison.Ordinal) => new MetricStreamConfiguration { CardinalityLimit = CardinalityLimit },
                    _ => null,
                });
                metrics.AddPrometheusExporter(prometheus =>
                {
                    // Every scrape reads the counters now (tests and dashboards read a change at once), and the series
                    // carry no otel_scope_* labels: /metrics keeps the names and labels it had before the SDK.
                    prometheus.ScrapeResponseCacheDurationMilliseconds = 0;
                    prometheus.ScopeInfoEnabled = false;
                });
                if (otlp)
                {
                    metrics.AddOtlpExporter((exporter, reader) => ConfigureOtlp(configuration, exporter, reader));
                }
            });

        // Traces only where they go somewhere: without OTLP (or with a sample ratio of 0) nothing listens to the Iot
        // source, and the publish path makes no span.
        var ratio = (configuration.GetSection(TelemetryOptions.SectionName).Get<TelemetryOptions>() ?? new TelemetryOptions()).TraceSampleRatio;
        if (otlp && ratio > 0)
        {
            builder.WithTracing(tracing => tracing
                .AddSource(IotTracing.SourceName, "System.Net.Http", "Microsoft.AspNetCore")
                .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(Math.Min(ratio, 1))))
                .AddOtlpExporter(exporter => ConfigureOtlpTraces(configuration, exporter)));
        }

        return builder;
    }

    /// <summary>The traces' exporter: the same endpoint as the metrics, at <c>/v1/traces</c> over HTTP.</summary>
    private static void ConfigureOtlpTraces(IConfiguration configuration, OtlpExporterOptions exporter)
    {
        var options = configuration.GetSection(TelemetryOptions.SectionName).Get<TelemetryOptions>() ?? new TelemetryOptions();
        if (options.OtlpEndpoint is not { } endpoint)
        {
            return;
        }

        exporter.Protocol = options.OtlpProtocol;
        exporter.Endpoint = options.OtlpProtocol == OtlpExportProtocol.HttpProtobuf
            ? new Uri(endpoint, endpoint.AbsolutePath.TrimEnd('/').Replace("/v1/metrics", "", StringComparison.Ordinal) + "/v1/traces")
            : endpoint;
    }

    /// <summary>Maps <c>/metrics</c> (no API key, as the probes).</summary>
    public static IEndpointRouteBuilder MapIotMetrics(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        endpoints.MapPrometheusScrapingEndpoint("/metrics", meterProvider: null,
            configureBranchedPipeline: branch => branch.UseMiddleware<ClassicTextFormatMiddleware>(), optionsName: null);
        return endpoints;
    }

    /// <summary><c>Iot:Telemetry</c> when its endpoint is set; otherwise the SDK's defaults, read from <c>OTEL_EXPORTER_OTLP_*</c>.</summary>
    private static void ConfigureOtlp(IConfiguration configuration, OtlpExporterOptions exporter, MetricReaderOptions reader)
    {
        var options = configuration.GetSection(TelemetryOptions.SectionName).Get<TelemetryOptions>() ?? new TelemetryOptions();
        if (options.OtlpEndpoint is not { } endpoint)
        {
            return;
        }

        exporter.Protocol = options.OtlpProtocol;
        exporter.Endpoint = options.OtlpProtocol == OtlpExportProtocol.HttpProtobuf && !endpoint.AbsolutePath.EndsWith("/v1/metrics", StringComparison.Ordinal)
            ? new Uri(endpoint, endpoint.AbsolutePath.TrimEnd('/') + "/v1/metrics")
            : endpoint;
        reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)options.OtlpExportInterval.TotalMilliseconds;
    }
}
