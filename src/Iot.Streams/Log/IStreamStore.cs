namespace Iot.Streams.Log;

/// <summary>The named, partitioned streams and their consumer groups' committed offsets.</summary>
public interface IStreamStore
{
    /// <summary>The streams that exist.</summary>
    IReadOnlyCollection<StreamDefinition> Streams { get; }

    /// <summary>
    /// Creates a stream, or returns <see cref="StreamCreateResult.Created"/> false with the existing definition when one
    /// with that name exists (in a cluster: on any node). Completes when the stream is durable and usable.
    /// </summary>
    ValueTask<StreamCreateResult> TryCreateAsync(StreamDefinition definition, CancellationToken cancellationToken = default);

    /// <summary>The definition of <paramref name="name"/>, or null.</summary>
    StreamDefinition? Find(string name);

    /// <summary>One partition of a stream; throws <see cref="KeyNotFoundException"/> for an unknown stream or partition.</summary>
    IStreamLog GetPartition(string stream, int partition);

    /// <summary>The consumer groups of <paramref name="stream"/>.</summary>
    IConsumerGroupStore GetGroups(string stream);
}

/// <summary>What <see cref="IStreamStore.TryCreateAsync"/> did.</summary>
/// <param name="Created">True when this call created the stream.</param>
/// <param name="Definition">The stream's definition: the new one, or the one that existed.</param>
public readonly record struct StreamCreateResult(bool Created, StreamDefinition Definition);

/// <summary>A consumer group's position in one partition.</summary>
/// <param name="Offset">The next offset to read.</param>
/// <param name="Metadata">What the consumer stored with the commit (for example an aggregator's watermark).</param>
public readonly record struct CommittedOffset(long Offset, string? Metadata);

/// <summary>A committed offset with the revision the store gave that commit (the fencing token of the next commit).</summary>
/// <param name="Offset">The committed offset.</param>
/// <param name="Revision">Increases with every commit of this group and partition; never 0.</param>
public readonly record struct RevisedOffset(CommittedOffset Offset, long Revision);

/// <summary>Committed offsets per consumer group and partition of one stream; commits are durable when the task completes.</summary>
/// <remarks>
/// A single owner of a (group, partition) (for example an aggregation singleton holding a lease) commits with
/// <see cref="TryCommitAsync"/> and the revision of its last commit: a former owner that was paused and resumes after
/// another node took over finds a newer revision and is fenced instead of overwriting the new owner's position.
/// </remarks>
public interface IConsumerGroupStore
{
    /// <summary>The names of the groups.</summary>
    IReadOnlyCollection<string> Groups { get; }

    /// <summary>Creates a group (no offsets committed yet); false when it exists.</summary>
    ValueTask<bool> CreateAsync(string group, CancellationToken cancellationToken = default);

    /// <summary>Deletes a group and its offsets; false when it did not exist.</summary>
    ValueTask<bool> DeleteAsync(string group, CancellationToken cancellationToken = default);

    /// <summary>
    /// The group's committed offset in <paramref name="partition"/>, or null (none committed, or no such group), as this
    /// process knows it: in a cluster a commit made on another node shows here within the store's replication delay
    /// (use <see cref="ReadCommittedAsync"/> for the store's current value).
    /// </summary>
    CommittedOffset? GetCommitted(string group, int partition);

    /// <summary>Commits (creating the group if needed), whatever was committed before; durable when the task completes.</summary>
    ValueTask CommitAsync(string group, int partition, CommittedOffset offset, CancellationToken cancellationToken = default);

    /// <summary>The committed offset and its revision as the store holds it now; null when none is committed.</summary>
    ValueTask<RevisedOffset?> ReadCommittedAsync(string group, int partition, CancellationToken cancellationToken = default);

    /// <summary>
    /// Commits only when the stored revision of (<paramref name="group"/>, <paramref name="partition"/>) is
    /// <paramref name="expectedRevision"/> (0: nothing committed yet), creating the group if needed; returns the new
    /// revision, or null (and changes nothing) when another commit came in between: the caller is fenced.
    /// </summary>
    ValueTask<long?> TryCommitAsync(string group, int partition, CommittedOffset offset, long expectedRevision, CancellationToken cancellationToken = default);
}
