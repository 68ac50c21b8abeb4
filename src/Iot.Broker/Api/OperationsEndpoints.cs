using Iot.Broker.Hosting.Health;
using Iot.Broker.Hosting.Telemetry;

namespace Iot.Broker.Api;

/// <summary>The probes (<see cref="HealthEndpoints"/>) and <c>/metrics</c> (<see cref="TelemetryServiceCollectionExtensions.MapIotMetrics"/>).</summary>
internal static class OperationsEndpoints
{
    public static IEndpointRouteBuilder MapOperationsEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapIotHealth();
        endpoints.MapIotMetrics();
        return endpoints;
    }
}
