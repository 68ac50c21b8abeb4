namespace Iot.Streams.Log;

/// <summary>
/// One partition of a stream: an append-only, durable, gap-free log of records. The file implementation is
/// <c>SegmentLog</c>; a distributed engine (for example a NATS JetStream stream per partition) can implement the
/// same contract, which <c>StreamLogContractTests</c> checks.
/// </summary>
public interface IStreamLog : IAsyncDisposable
{
    /// <summary>The oldest offset still kept (retention removes older records); equals <see cref="NextOffset"/> when empty.</summary>
    long StartOffset { get; }

    /// <summary>The offset the next appended record gets; every offset below it (and from <see cref="StartOffset"/>) is durable.</summary>
    long NextOffset { get; }

    /// <summary>
    /// Appends a record and completes with its offset once it is durable (group commit: records waiting together
    /// share one write and one flush). Waits when the log's append queue is full, so back-pressure reaches the caller.
    /// </summary>
    ValueTask<long> AppendAsync(AppendRecord record, CancellationToken cancellationToken = default);

    /// <summary>
    /// Reads up to <paramref name="maxRecords"/> durable records from <paramref name="offset"/> (from
    /// <see cref="StartOffset"/> when the offset is older than retention); an empty list when nothing is there yet.
    /// </summary>
    ValueTask<IReadOnlyList<StreamRecord>> ReadAsync(long offset, int maxRecords, CancellationToken cancellationToken = default);

    /// <summary>The first offset whose record's timestamp is at or after <paramref name="time"/>; <see cref="NextOffset"/> when none.</summary>
    ValueTask<long> FindOffsetAsync(DateTimeOffset time, CancellationToken cancellationToken = default);

    /// <summary>Completes when a record at <paramref name="offset"/> or later is durable (at once if one already is).</summary>
    ValueTask WaitForRecordsAsync(long offset, CancellationToken cancellationToken = default);

    /// <summary>Removes what retention (age and size) allows; returns the number of records removed.</summary>
    ValueTask<long> ApplyRetentionAsync(CancellationToken cancellationToken = default);
}
