namespace Iot.Streams.Aggregation;

/// <summary>
/// Hands each result computed on this node to the other nodes of a cluster, which put it into their own
/// <see cref="AggregateHub"/>: a dashboard following <c>GET /api/streams/{name}/aggregates</c> on any node sees the
/// results of every window and partition, whichever node computed them. Absent in single-process mode.
/// </summary>
internal interface IAggregateRelay
{
    /// <summary>Sends <paramref name="result"/> (computed here) to the other nodes; never blocks, never throws.</summary>
    void Send(AggregateResult result);
}
