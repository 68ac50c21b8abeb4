using Iot.Messaging.Leases;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Iot.Routing.Queues.JetStream;

/// <summary>
/// Runs <see cref="JetStreamQueueStore.SweepAsync"/> every <see cref="Interval"/> on the one node holding the lease
/// <see cref="LeaseName"/> (another node takes it over when that node dies). A failed sweep is logged and tried again
/// at the next interval: what it would have removed only waits.
/// </summary>
internal sealed class JetStreamQueueSweeper(JetStreamQueueStore store, ISingletonLeases leases, TimeProvider time, ILogger<JetStreamQueueStore> logger)
    : BackgroundService
{
    /// <summary>The singleton lease of the sweep.</summary>
    public const string LeaseName = "queues.sweep";

    /// <summary>Time between two sweeps.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await leases.RunWhileHeldAsync(LeaseName, async (_, token) =>
            {
                while (true)
                {
                    await Task.Delay(Interval, time, token).ConfigureAwait(false);
                    try
                    {
                        await store.SweepAsync(token).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (!token.IsCancellationRequested)
                    {
                        JetStreamQueueLog.SweepFailed(logger, ex);
                    }
                }
            }, null, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }
}
