using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Iot.Broker.Hosting.Health;

/// <summary>
/// The probes on <c>Microsoft.Extensions.Diagnostics.HealthChecks</c>: liveness (<c>/healthz/live</c>, and <c>/healthz</c>
/// as before: the process serves HTTP, "ok") and readiness (<c>/healthz/ready</c>: every check tagged
/// <see cref="ReadyTag"/>, 200 or 503 with a JSON body naming each check).
/// </summary>
internal static class HealthEndpoints
{
    public const string ReadyTag = "ready";

    public static IServiceCollection AddIotHealth(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<HealthOptions>().Bind(configuration.GetSection(HealthOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        // A singleton: it keeps the last probe's result between requests (AddCheck<T> would make one per run).
        services.AddSingleton<StoresHealthCheck>();
        services.AddHealthChecks()
            .AddCheck<DrainHealthCheck>("drain", tags: [ReadyTag])
            .AddCheck<DataDirectoryHealthCheck>("data_dir", tags: [ReadyTag])
            .AddCheck<NatsHealthCheck>("nats", tags: [ReadyTag])
            .AddCheck<StoresHealthCheck>("stores", tags: [ReadyTag]);
        services.AddHealthChecks().AddInfluxSinkCheck(configuration);
        return services;
    }

    public static IEndpointRouteBuilder MapIotHealth(this IEndpointRouteBuilder endpoints)
    {
        var live = new HealthCheckOptions { Predicate = static _ => false, ResponseWriter = WriteOkAsync };
        endpoints.MapHealthChecks("/healthz", live);
        endpoints.MapHealthChecks("/healthz/live", live);
        endpoints.MapHealthChecks("/healthz/ready", new HealthCheckOptions
        {
            Predicate = static check => check.Tags.Contains(ReadyTag),
            ResponseWriter = WriteReportAsync,
            ResultStatusCodes =
            {
                [HealthStatus.Healthy] = StatusCodes.Status200OK,
                [HealthStatus.Degraded] = StatusCodes.Status200OK,
                [HealthStatus.Unhealthy] = StatusCodes.Status503ServiceUnavailable,
            },
        });
        return endpoints;
    }

    private static Task WriteOkAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "text/plain";
        return context.Response.WriteAsync(report.Status == HealthStatus.Unhealthy ? "unhealthy\n" : "ok\n");
    }

    private static async Task WriteReportAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.Body);
        json.WriteStartObject();
        json.WriteString("status", report.Status.ToString());
        json.WriteStartArray("checks");
        foreach (var (name, entry) in report.Entries)
        {
            json.WriteStartObject();
            json.WriteString("name", name);
            json.WriteString("status", entry.Status.ToString());
            if (entry.Description is { } description)
            {
                json.WriteString("description", description);
            }

            json.WriteNumber("duration_ms", entry.Duration.TotalMilliseconds);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
        await json.FlushAsync(context.RequestAborted).ConfigureAwait(false);
    }
}
