using Iot.Broker.Api;
using Iot.Broker.Hosting.Health;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Iot.Broker.Hosting.OpenApi;

/// <summary>
/// What the endpoints' metadata cannot say: the document's title and description, the API-key security schemes, the
/// tags' descriptions, and the health probes, which <c>MapHealthChecks</c> maps for every method without the metadata the
/// generator reads (described here as GET, the method probes use). No <c>servers</c>: clients use the address they
/// fetched the document from, so the document is the same on every host and port (the checked-in
/// <c>docs/openapi/v1.json</c> is compared with it).
/// </summary>
internal sealed class ApiDocumentTransformer : IOpenApiDocumentTransformer
{
    /// <summary>The security scheme of the <c>X-Api-Key</c> header.</summary>
    public const string ApiKeyScheme = "apiKey";

    /// <summary>The security scheme of <c>Authorization: Bearer</c> with the same key.</summary>
    public const string BearerScheme = "bearer";

    private static readonly (string Name, string Description)[] Tags =
    [
        ("Devices", "Identities (devices, services, dashboards): create, list, disable, enable, delete, rotate credentials. Secrets appear once, in the answer that issued them."),
        ("Clients", "MQTT clients connected now."),
        ("Cluster", "This node and, in cluster mode, every node and the NATS connection."),
        ("Commands", "Device commands: queued, delivered at least once over MQTT, answered by the device."),
        ("Queues", "Durable queues with peek-lock, sessions, scheduling, duplicate detection and dead-lettering."),
        ("Routes", "Routing rules: source topic filter and conditions to a destination."),
        ("Events", "Custom CloudEvents published over HTTP."),
        ("Subscriptions", "Event subscriptions (webhook, pull, MQTT) with retries and dead-lettering."),
        ("Streams", "Partitioned streams, consumer groups and live aggregates."),
        ("Operations", "Health probes and Prometheus metrics; no API key."),
    ];

    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info = new OpenApiInfo
        {
            Title = "Iot broker API",
            Version = BrokerOpenApi.DocumentName,
            Description = "The HTTP API of the Iot broker (docs/api.md). JSON is camelCase; every error is an RFC 7807 problem "
                + "(application/problem+json) with a `detail` that says what was wrong. Everything under /api needs an API key of a "
                + "service identity (any method) or a dashboard identity (GET), in `X-Api-Key` or `Authorization: Bearer`.",
        };
        document.Servers = [];
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes = new Dictionary<string, IOpenApiSecurityScheme>
        {
            [ApiKeyScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.ApiKey,
                In = ParameterLocation.Header,
                Name = IotApiPolicy.ApiKeyHeader,
                Description = "The API key of a service identity (any method) or a dashboard identity (GET and HEAD), issued by POST /api/devices.",
            },
            [BearerScheme] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "The same API key as 'Authorization: Bearer <key>'.",
            },
        };
        document.Tags = new HashSet<OpenApiTag>(Tags.Select(t => new OpenApiTag { Name = t.Name, Description = t.Description }));
        document.Paths ??= [];
        foreach (var probe in HealthProbes.All)
        {
            document.Paths[probe.Path] = probe.Describe();
        }

        return Task.CompletedTask;
    }
}
