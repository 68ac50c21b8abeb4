using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Iot.Routing.ClaimCheck;

/// <summary>
/// Prepares the store at start and then, every <see cref="ClaimCheckOptions.SweepInterval"/>, deletes committed blobs
/// older than <see cref="ClaimCheckOptions.Retention"/> and pending blobs (orphans: written, never committed, because the
/// process died in between) older than <see cref="ClaimCheckOptions.OrphanGracePeriod"/>. Every node of a cluster
/// sweeps the shared store; a blob another node deleted first is not counted twice.
/// </summary>
internal sealed class ClaimCheckSweeper(IClaimCheckStore store, IOptions<ClaimCheckOptions> options, ClaimCheckMetrics metrics,
    TimeProvider time, ILogger<ClaimCheckSweeper> logger) : BackgroundService
{
    private readonly ClaimCheckOptions _options = options.Value;

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // The store must answer before the broker takes traffic: a wrong connection string fails the start.
        await store.InitializeAsync(cancellationToken).ConfigureAwait(false);
        ClaimCheckLog.Started(logger, store.Kind, _options.ThresholdBytes, _options.Topics.Count, _options.QueueSends);
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One sweep: the numbers of orphans and of expired blobs deleted.</summary>
    public async Task<(int Orphans, int Expired)> SweepOnceAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var orphans = 0;
        var expired = 0;
        await foreach (var blob in store.ListAsync(cancellationToken).ConfigureAwait(false))
        {
            var age = now - blob.CreatedAt;
            var due = blob.State == ClaimCheckBlobState.Pending ? age >= _options.OrphanGracePeriod : age >= _options.Retention;
            if (!due || !await store.DeleteAsync(blob.Id, cancellationToken).ConfigureAwait(false))
            {
                continue;
            }

            if (blob.State == ClaimCheckBlobState.Pending)
            {
                orphans++;
                metrics.OrphansSwept.Add(1);
            }
            else
            {
                expired++;
                metrics.Deleted.Add(1);
            }
        }

        if (orphans + expired > 0)
        {
            ClaimCheckLog.Swept(logger, orphans, expired);
        }

        return (orphans, expired);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.SweepInterval, time);
        do
        {
            try
            {
                await SweepOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                ClaimCheckLog.SweepFailed(logger, _options.SweepInterval, e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
