using System.ComponentModel.DataAnnotations;
using System.Globalization;
using Iot.Streams.Sinks.Influx;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Hosting.Health;

/// <summary>Settings of the readiness check <c>influx_sink</c> (<c>Iot:Health:InfluxSink...</c>; docs/configuration.md).</summary>
public sealed class InfluxSinkHealthOptions : IValidatableObject
{
    /// <summary>
    /// How long the InfluxDB sink may have records waiting with no write accepted before <c>influx_sink</c> reports
    /// <see cref="InfluxSinkLagStatus"/>. Default 5 minutes; 00:00:00 turns the check off; at most a day.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan InfluxSinkMaxLag { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// What a lagging sink reports: <c>Degraded</c> (default: <c>/healthz/ready</c> stays 200 and its report names
    /// the lag; every node shares the one InfluxDB, so failing readiness would take all of them out of the load
    /// balancer while they still store what they acknowledge) or <c>Unhealthy</c> (503).
    /// </summary>
    public HealthStatus InfluxSinkLagStatus { get; set; } = HealthStatus.Degraded;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (InfluxSinkLagStatus is not (HealthStatus.Degraded or HealthStatus.Unhealthy))
        {
            yield return new ValidationResult("Iot:Health:InfluxSinkLagStatus must be Degraded or Unhealthy.", [nameof(InfluxSinkLagStatus)]);
        }
    }
}

/// <summary>
/// Readiness: how far the InfluxDB sink is behind (<see cref="InfluxSinkService.Lag"/>: records not yet committed,
/// and how long records have waited with no write accepted). Healthy when the sink is not configured.
/// </summary>
internal sealed class InfluxSinkHealthCheck(IServiceProvider services, IOptions<InfluxSinkHealthOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (services.GetService<InfluxSinkService>() is not { Enabled: true } sink)
        {
            return Task.FromResult(HealthCheckResult.Healthy("not configured"));
        }

        var lag = sink.Lag;
        var settings = options.Value;
        var data = new Dictionary<string, object>
        {
            ["records_behind"] = lag.RecordsBehind,
            ["waiting_seconds"] = lag.WaitingFor.TotalSeconds,
            ["last_write"] = lag.LastWriteAt?.ToString("O", CultureInfo.InvariantCulture) ?? "never",
        };
        var summary = string.Create(CultureInfo.InvariantCulture,
            $"{lag.RecordsBehind} records behind; waiting {lag.WaitingFor.TotalSeconds:0.#} s; last write {data["last_write"]}");
        return Task.FromResult(settings.InfluxSinkMaxLag > TimeSpan.Zero && lag.WaitingFor > settings.InfluxSinkMaxLag
            ? new HealthCheckResult(settings.InfluxSinkLagStatus,
                string.Create(CultureInfo.InvariantCulture, $"{summary}: longer than Iot:Health:InfluxSinkMaxLag ({settings.InfluxSinkMaxLag:c})"), data: data)
            : HealthCheckResult.Healthy(summary, data));
    }
}

/// <summary>Registers <c>influx_sink</c> (one line in <see cref="HealthEndpoints.AddIotHealth"/>).</summary>
internal static class InfluxSinkHealthCheckExtensions
{
    public static IHealthChecksBuilder AddInfluxSinkCheck(this IHealthChecksBuilder builder, IConfiguration configuration)
    {
        builder.Services.AddOptions<InfluxSinkHealthOptions>().Bind(configuration.GetSection(HealthOptions.SectionName))
            .ValidateDataAnnotations().ValidateOnStart();
        return builder.AddCheck<InfluxSinkHealthCheck>("influx_sink", tags: [HealthEndpoints.ReadyTag]);
    }
}
