using Iot.Streams.Internal;
using Iot.Streams.Log;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Iot.Streams.Hosting;

/// <summary>
/// Applies every stream partition's retention on a timer (<see cref="StreamsOptions.RetentionCheckInterval"/>), written
/// to or not: a partition's own writer checks retention only after a write, so a partition that stops receiving would
/// otherwise keep its records for ever. The file log seals and removes an active segment whose records all aged out;
/// JetStream applies MaxAge itself, and the sweep only brings the partition's start offset up to date.
/// </summary>
internal sealed class StreamRetentionService(IStreamStore store, IOptions<StreamsOptions> options, TimeProvider timeProvider,
    ILogger<StreamRetentionService> logger) : BackgroundService
{
    private PeriodicTimer? _timer;

    /// <inheritdoc/>
    /// <remarks>The timer starts here, not in <see cref="ExecuteAsync"/> (which runs later on the thread pool): the first sweep is one interval after start.</remarks>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        _timer = new PeriodicTimer(options.Value.RetentionCheckInterval, timeProvider);
        return base.StartAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        _timer?.Dispose();
        base.Dispose();
    }

    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var timer = _timer!;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await SweepAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>Applies the retention of every partition of every stream once; returns the records removed.</summary>
    internal async Task<long> SweepAsync(CancellationToken cancellationToken)
    {
        long total = 0;
        foreach (var stream in store.Streams)
        {
            for (int partition = 0; partition < stream.Partitions; partition++)
            {
                try
                {
                    var removed = await store.GetPartition(stream.Name, partition).ApplyRetentionAsync(cancellationToken).ConfigureAwait(false);
                    if (removed > 0)
                    {
                        StreamsLog.RetentionApplied(logger, stream.Name, partition, removed);
                        total += removed;
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    // One partition that cannot be swept (a file held, a cluster store not answering) waits for the next
                    // tick; the others are swept all the same.
                    StreamsLog.RetentionFailed(logger, stream.Name, partition, ex);
                }
            }
        }

        return total;
    }
}
