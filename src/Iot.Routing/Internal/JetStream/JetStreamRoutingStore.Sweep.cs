namespace Iot.Routing.Internal.JetStream;

internal sealed partial class JetStreamRoutingStore
{
    /// <summary>The highest revision of the deliveries bucket this node's view has applied from its watch.</summary>
    internal ulong WatchedRevision => _index.Watched;

    /// <summary>
    /// Removes from the deliveries bucket's stream what delivered, dropped and evicted events left behind: a key-value
    /// delete leaves a marker message, and a key is never used again, so without this the stream would grow by one
    /// marker per event for ever. Per subscription one purge removes its subjects' messages below the lowest revision it
    /// still holds, and never at or above the first revision this node's watch had not applied at the previous sweep, so a node
    /// whose watch is behind by less than a sweep interval still sees every delete. Deliveries older than that are
    /// written again unchanged first (one compare-and-set each), so a long-lived dead letter does not pin the markers
    /// recorded after it. The first call only marks where the next one may purge to.
    /// </summary>
    internal async Task SweepDeleteMarkersAsync(CancellationToken cancellationToken)
    {
        await OpenAsync(cancellationToken).ConfigureAwait(false);
        ulong floor = _previousSweep;
        // The first revision the watch had not applied: everything below it had reached this node by now.
        _previousSweep = _index.Watched + 1;
        if (floor == 0)
        {
            return;
        }

        foreach (var subscription in _index.KnownSubscriptions())
        {
            var (older, _) = _index.Revisions(subscription, floor);
            foreach (var entry in older)
            {
                await TryUpdateAsync(entry, entry.Value, entry.Revision).ConfigureAwait(false);
            }

            // Read again: a delivery written again, or changed by another node, now holds a revision above the floor.
            var (_, lowest) = _index.Revisions(subscription, floor);
            var below = Math.Min(lowest ?? ulong.MaxValue, floor);
            await _buckets.PurgeDeliveriesBelowAsync(subscription, below, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task SweepLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(SweepInterval, _time, cancellationToken).ConfigureAwait(false);
                await SweepDeleteMarkersAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // A failed sweep costs only space until the next one.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                JetStreamRoutingLog.SweepFailed(_logger, DeliveriesBucket, ex);
            }
        }
    }
}
