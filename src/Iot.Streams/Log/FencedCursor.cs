using Iot.Messaging.Leases;

namespace Iot.Streams.Log;

/// <summary>
/// The committed position of a consumer group whose reader is a singleton (an aggregation window, an InfluxDB sink
/// partition), taken under a lease: every commit is a compare-and-set on the revision this owner last read or wrote
/// (<see cref="IConsumerGroupStore.TryCommitAsync"/>), so a former owner that was paused and resumes after another node
/// took over is refused instead of overwriting the new owner's position.
/// </summary>
/// <remarks>
/// <see cref="OpenAsync"/> re-commits the stored position at once, raising its revision: from then on a former owner's
/// commit finds a newer revision than the one it holds, even before the new owner has moved. A refused commit, or one
/// made after the lease was lost, throws <see cref="LeaseLostException"/>; the singleton's supervisor then runs it
/// again under its next lease, from the committed position (an operator's commit through the HTTP API has the same
/// effect: the reader restarts from it).
/// </remarks>
internal sealed class FencedCursor
{
    private readonly IConsumerGroupStore _groups;
    private readonly string _group;
    private readonly int _partition;
    private readonly ISingletonLease _lease;
    private long _revision;

    private FencedCursor(IConsumerGroupStore groups, string group, int partition, ISingletonLease lease, CommittedOffset? committed, long revision)
    {
        _groups = groups;
        _group = group;
        _partition = partition;
        _lease = lease;
        Committed = committed;
        _revision = revision;
    }

    /// <summary>The position committed when the cursor was opened or by its last commit; null when none was ever committed.</summary>
    public CommittedOffset? Committed { get; private set; }

    /// <summary>Reads the committed position of <paramref name="group"/> on <paramref name="partition"/> and takes it for the holder of <paramref name="lease"/>.</summary>
    /// <exception cref="LeaseLostException">Another owner committed in between, or the lease is no longer held.</exception>
    public static async Task<FencedCursor> OpenAsync(IConsumerGroupStore groups, string group, int partition, ISingletonLease lease,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(lease);
        var read = await groups.ReadCommittedAsync(group, partition, cancellationToken).ConfigureAwait(false);
        var cursor = new FencedCursor(groups, group, partition, lease, read?.Offset, read?.Revision ?? 0);
        if (read is { } stored)
        {
            await cursor.CommitAsync(stored.Offset, cancellationToken).ConfigureAwait(false);
        }

        return cursor;
    }

    /// <summary>Commits <paramref name="offset"/> if this owner still holds the lease and nobody else committed since.</summary>
    /// <exception cref="LeaseLostException">The lease is lost or another owner committed: the new owner's commits win.</exception>
    public async ValueTask CommitAsync(CommittedOffset offset, CancellationToken cancellationToken)
    {
        if (!_lease.IsHeld)
        {
            throw new LeaseLostException(_lease.Name);
        }

        _revision = await _groups.TryCommitAsync(_group, _partition, offset, _revision, cancellationToken).ConfigureAwait(false)
            ?? throw new LeaseLostException(_lease.Name);
        Committed = offset;
    }

    /// <summary>The lease of the singleton reading <paramref name="group"/> on <paramref name="partition"/> of <paramref name="stream"/>.</summary>
    public static string LeaseName(string stream, string group, int partition) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"streams.{stream}.{group}.{partition}");
}
