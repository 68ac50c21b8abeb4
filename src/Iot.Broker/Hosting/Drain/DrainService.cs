using System.Diagnostics;
using Iot.Broker.Mqtt;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Hosting.Drain;

/// <summary>
/// The graceful stop on SIGTERM. The host calls <see cref="StoppingAsync"/> before any service stops: readiness is
/// already unhealthy (<see cref="Health.DrainHealthCheck"/> reads the same stopping token), the node waits
/// <see cref="ShutdownOptions.ReadinessDelay"/>, then the services stop in reverse order of registration, each
/// finishing its work in flight within <see cref="ShutdownOptions.DrainTimeout"/> (the host's shutdown timeout): the
/// MQTT listeners stop accepting and send DISCONNECT 0x8B (Server shutting down), webhook attempts complete and are
/// settled, the stores flush. <see cref="StoppedAsync"/> logs how long it took and what was abandoned.
/// </summary>
internal sealed class DrainService(IOptions<ShutdownOptions> options, BrokerMetrics metrics, TimeProvider timeProvider, ILogger<DrainService> logger)
    : IHostedLifecycleService
{
    private long _startedAt;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        _startedAt = Stopwatch.GetTimestamp();
        var settings = options.Value;
        HostingLog.DrainStarted(logger, metrics.Connections, settings.ReadinessDelay.TotalSeconds, settings.DrainTimeout.TotalSeconds);
        if (settings.ReadinessDelay > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(settings.ReadinessDelay, timeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The shutdown timeout ran out first: stop now.
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken)
    {
        long left = metrics.Connections;
        var took = Stopwatch.GetElapsedTime(_startedAt).TotalSeconds;
        if (cancellationToken.IsCancellationRequested)
        {
            HostingLog.DrainTimedOut(logger, took, options.Value.DrainTimeout.TotalSeconds, left);
        }
        else
        {
            HostingLog.Drained(logger, took, left);
        }

        return Task.CompletedTask;
    }
}
