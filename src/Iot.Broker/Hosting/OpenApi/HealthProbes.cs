using System.Net.Mime;
using Microsoft.OpenApi;

namespace Iot.Broker.Hosting.OpenApi;

/// <summary>
/// The health probes' and <c>/metrics</c>' entries in the document. <c>MapHealthChecks</c> and OpenTelemetry's
/// <c>MapPrometheusScrapingEndpoint</c> map them without the metadata the generator reads, so they are written here, from
/// the answers <see cref="Health.HealthEndpoints"/> and the Prometheus exporter give.
/// </summary>
internal sealed record HealthProbes(string Path, string OperationId, string Summary, bool Readiness)
{
    public static readonly HealthProbes[] All =
    [
        new("/healthz", "GetHealth", "Liveness (as /healthz/live): 200 'ok' while the process serves HTTP.", false),
        new("/healthz/live", "GetLiveness", "Liveness: 200 'ok' while the process serves HTTP; no check runs.", false),
        new("/healthz/ready", "GetReadiness",
            "Readiness: 200 when every check passes, 503 when one fails (stopping, data directory or a store not writable or short of space, NATS not connected in cluster mode, the InfluxDB sink lagging when configured so); the JSON body names each check.",
            true),
        new(MetricsPath, "GetMetrics", "Prometheus metrics (text exposition format 0.0.4, OpenTelemetry's Prometheus exporter); no API key.", false),
    ];

    private const string MetricsPath = "/metrics";

    public OpenApiPathItem Describe()
    {
        var responses = new OpenApiResponses();
        if (Readiness)
        {
            responses["200"] = Report("Ready: every check passed (or is degraded).");
            responses["503"] = Report("Not ready: at least one check failed; the body says which and why.");
        }
        else if (Path == MetricsPath)
        {
            responses["200"] = new OpenApiResponse
            {
                Description = "Every metric (docs/api.md, Metrics) in the Prometheus text format 0.0.4.",
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    [MediaTypeNames.Text.Plain] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String } },
                },
            };
        }
        else
        {
            responses["200"] = new OpenApiResponse
            {
                Description = "The process serves HTTP.",
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    [MediaTypeNames.Text.Plain] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String }, Example = System.Text.Json.Nodes.JsonValue.Create("ok\n") },
                },
            };
        }

        var operation = new OpenApiOperation
        {
            OperationId = OperationId,
            Summary = Summary,
            Tags = new HashSet<OpenApiTagReference> { new("Operations") },
            Responses = responses,
        };
        return new OpenApiPathItem { Operations = new Dictionary<HttpMethod, OpenApiOperation> { [HttpMethod.Get] = operation } };
    }

    private static OpenApiResponse Report(string description) => new()
    {
        Description = description,
        Content = new Dictionary<string, OpenApiMediaType>
        {
            [MediaTypeNames.Application.Json] = new() { Schema = ReportSchema() },
        },
    };

    private static OpenApiSchema ReportSchema() => new()
    {
        Type = JsonSchemaType.Object,
        Required = new HashSet<string> { "status", "checks" },
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["status"] = Status(),
            ["checks"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Array,
                Items = new OpenApiSchema
                {
                    Type = JsonSchemaType.Object,
                    Required = new HashSet<string> { "name", "status", "duration_ms" },
                    Properties = new Dictionary<string, IOpenApiSchema>
                    {
                        ["name"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "drain, data_dir, nats, stores or influx_sink." },
                        ["status"] = Status(),
                        ["description"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "Why the check failed or what it saw." },
                        ["duration_ms"] = new OpenApiSchema { Type = JsonSchemaType.Number, Format = "double" },
                    },
                },
            },
        },
    };

    private static OpenApiSchema Status() => new()
    {
        Type = JsonSchemaType.String,
        Enum = [System.Text.Json.Nodes.JsonValue.Create("Healthy"), System.Text.Json.Nodes.JsonValue.Create("Degraded"), System.Text.Json.Nodes.JsonValue.Create("Unhealthy")],
    };
}
