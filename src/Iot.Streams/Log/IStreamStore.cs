namespace Iot.Streams.Log;

/// <summary>The named, partitioned streams and their consumer groups' committed offsets.</summary>
public interface IStreamStore
{
    /// <summary>The streams that exist.</summary>
    IReadOnlyCollection<StreamDefinition> Streams { get; }

    /// <summary>Creates a stream, or returns false with the existing definition when one with that name exists.</summary>
    bool TryCreate(StreamDefinition definition, out StreamDefinition existing);

    /// <summary>The definition of <paramref name="name"/>, or null.</summary>
    StreamDefinition? Find(string name);

    /// <summary>One partition of a stream; throws <see cref="KeyNotFoundException"/> for an unknown stream or partition.</summary>
    IStreamLog GetPartition(string stream, int partition);

    /// <summary>The consumer groups of <paramref name="stream"/>.</summary>
    IConsumerGroupStore GetGroups(string stream);
}

/// <summary>A consumer group's position in one partition.</summary>
/// <param name="Offset">The next offset to read.</param>
/// <param name="Metadata">What the consumer stored with the commit (for example an aggregator's watermark).</param>
public readonly record struct CommittedOffset(long Offset, string? Metadata);

/// <summary>Committed offsets per consumer group and partition of one stream; commits are durable when the task completes.</summary>
public interface IConsumerGroupStore
{
    /// <summary>The names of the groups.</summary>
    IReadOnlyCollection<string> Groups { get; }

    /// <summary>Creates a group (no offsets committed yet); false when it exists.</summary>
    ValueTask<bool> CreateAsync(string group, CancellationToken cancellationToken = default);

    /// <summary>Deletes a group and its offsets; false when it did not exist.</summary>
    ValueTask<bool> DeleteAsync(string group, CancellationToken cancellationToken = default);

    /// <summary>The group's committed offset in <paramref name="partition"/>, or null (none committed, or no such group).</summary>
    CommittedOffset? GetCommitted(string group, int partition);

    /// <summary>Commits (creating the group if needed); durable when the task completes.</summary>
    ValueTask CommitAsync(string group, int partition, CommittedOffset offset, CancellationToken cancellationToken = default);
}
