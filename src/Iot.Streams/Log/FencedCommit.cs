using Iot.Messaging.Leases;

namespace Iot.Streams.Log;

/// <summary>Commits of consumer groups whose reader is a singleton (aggregation windows, the InfluxDB sink): made under a lease.</summary>
internal static class FencedCommit
{
    /// <summary>
    /// Commits <paramref name="offset"/> for <paramref name="group"/> on <paramref name="partition"/> only while
    /// <paramref name="lease"/> is held; throws <see cref="LeaseLostException"/> when it is not (the new holder's commits win).
    /// </summary>
    /// <remarks>
    /// The one place where a singleton's commit meets the store. The check here stops a holder that knows it lost the
    /// lease; a holder paused between the check and the write is stopped only by a store that compares
    /// <see cref="ISingletonLease.FencingToken"/> with the highest it has seen (the consumer-group store on JetStream).
    /// When <see cref="IConsumerGroupStore"/> takes a fencing token, pass <c>lease.FencingToken</c> to it here.
    /// </remarks>
    public static ValueTask CommitAsync(this IConsumerGroupStore groups, string group, int partition, CommittedOffset offset, ISingletonLease lease,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(groups);
        ArgumentNullException.ThrowIfNull(lease);
        if (!lease.IsHeld)
        {
            throw new LeaseLostException(lease.Name);
        }

        return groups.CommitAsync(group, partition, offset, cancellationToken);
    }

    /// <summary>The lease of the singleton reading <paramref name="group"/> on <paramref name="partition"/> of <paramref name="stream"/>.</summary>
    public static string LeaseName(string stream, string group, int partition) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"streams.{stream}.{group}.{partition}");
}
