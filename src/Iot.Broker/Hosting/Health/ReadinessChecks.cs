using Iot.Broker.Cluster;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using NATS.Client.Core;

namespace Iot.Broker.Hosting.Health;

/// <summary>
/// Readiness: the data directory takes a durable write (a probe file written through to the disk, then deleted) and its
/// file system has at least <see cref="HealthOptions.MinFreeDiskBytes"/> free.
/// </summary>
internal sealed class DataDirectoryHealthCheck(IOptions<IotOptions> iot, IOptions<HealthOptions> health) : IHealthCheck
{
    private readonly string _dataDir = Path.GetFullPath(iot.Value.DataDir);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await ProbeFile.WriteAsync(_dataDir, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return HealthCheckResult.Unhealthy($"the data directory {_dataDir} cannot be written: {ex.Message}");
        }

        var free = new DriveInfo(_dataDir).AvailableFreeSpace;
        var data = new Dictionary<string, object> { ["free_bytes"] = free, ["min_free_bytes"] = health.Value.MinFreeDiskBytes };
        return free < health.Value.MinFreeDiskBytes
            ? HealthCheckResult.Unhealthy($"{free} bytes free on the data directory's file system, below Iot:Health:MinFreeDiskBytes", data: data)
            : HealthCheckResult.Healthy($"{free} bytes free", data);
    }
}

/// <summary>Readiness: unhealthy from the moment the host starts stopping (SIGTERM), so a load balancer stops sending first.</summary>
internal sealed class DrainHealthCheck(IHostApplicationLifetime lifetime) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(lifetime.ApplicationStopping.IsCancellationRequested
            ? HealthCheckResult.Unhealthy("the broker is stopping")
            : HealthCheckResult.Healthy());
}

/// <summary>Readiness in cluster mode: the connection to NATS is open (a node cut off from NATS refuses clients anyway).</summary>
internal sealed class NatsHealthCheck(IServiceProvider services) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (services.GetService<ClusterConnection>() is not { } cluster)
        {
            return Task.FromResult(HealthCheckResult.Healthy("single-process mode"));
        }

        var state = cluster.Nats.ConnectionState;
        return Task.FromResult(state == NatsConnectionState.Open
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy($"the NATS connection is {state}"));
    }
}
