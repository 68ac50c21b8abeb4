using Iot.Messaging.Leases;

namespace Iot.Messaging.Crossover;

/// <summary>
/// Runs a periodic crossover check (queues, consumer groups) as a singleton: in a cluster only the node that holds the
/// lease checks, so N nodes do not raise the same event N times; when that node dies another takes the lease over.
/// </summary>
public static class CrossoverChecks
{
    /// <summary>
    /// While the lease <paramref name="leaseName"/> is held, runs <paramref name="check"/> at once and then every
    /// <paramref name="interval"/> on <paramref name="timeProvider"/>; a failed check is reported to
    /// <paramref name="onError"/> and the next one runs on time. Returns when <paramref name="cancellationToken"/> fires.
    /// </summary>
    /// <param name="leases">The leases (in one process every lease is held).</param>
    /// <param name="leaseName">The lease, the same on every node (e.g. <c>crossover.queues</c>).</param>
    /// <param name="interval">Time between checks.</param>
    /// <param name="timeProvider">The clock.</param>
    /// <param name="check">One pass of the check.</param>
    /// <param name="onError">Told of a check that threw.</param>
    /// <param name="cancellationToken">Stops the checks.</param>
    public static async Task RunAsync(ISingletonLeases leases, string leaseName, TimeSpan interval, TimeProvider timeProvider,
        Func<CancellationToken, Task> check, Action<Exception> onError, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(leases);
        ArgumentNullException.ThrowIfNull(check);
        ArgumentNullException.ThrowIfNull(onError);
        try
        {
            await leases.RunWhileHeldAsync(leaseName, async (_, token) =>
            {
                using var timer = new PeriodicTimer(interval, timeProvider);
                do
                {
                    try
                    {
                        await check(token).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException || !token.IsCancellationRequested)
                    {
                        onError(ex);
                    }
                }
                while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false));
            }, null, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }
}
