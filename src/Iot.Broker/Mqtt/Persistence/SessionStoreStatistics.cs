namespace Iot.Broker.Mqtt.Persistence;

/// <summary>The counters <see cref="SqliteSessionStore"/> reports in /metrics; thread-safe (atomic updates).</summary>
internal sealed class SessionStoreStatistics
{
    private long _committedBatches;
    private long _committedOperations;
    private long _failedBatches;
    private long _pendingOperations;
    private long _commitTicks;
    private long _corruptRecordsSkipped;

    public long CommittedBatches => Interlocked.Read(ref _committedBatches);

    public long CommittedOperations => Interlocked.Read(ref _committedOperations);

    public long FailedBatches => Interlocked.Read(ref _failedBatches);

    public long PendingOperations => Interlocked.Read(ref _pendingOperations);

    public TimeSpan TotalCommitDuration => TimeSpan.FromTicks(Interlocked.Read(ref _commitTicks));

    public long CorruptRecordsSkipped => Interlocked.Read(ref _corruptRecordsSkipped);

    /// <summary>A write joined a batch.</summary>
    public void Queued() => Interlocked.Increment(ref _pendingOperations);

    /// <summary>A batch of <paramref name="operations"/> writes was committed in <paramref name="elapsed"/>.</summary>
    public void Committed(int operations, TimeSpan elapsed)
    {
        Interlocked.Add(ref _commitTicks, elapsed.Ticks);
        Interlocked.Increment(ref _committedBatches);
        Interlocked.Add(ref _committedOperations, operations);
        Interlocked.Add(ref _pendingOperations, -operations);
    }

    /// <summary>A batch of <paramref name="operations"/> writes failed after <paramref name="elapsed"/>.</summary>
    public void Failed(int operations, TimeSpan elapsed)
    {
        Interlocked.Add(ref _commitTicks, elapsed.Ticks);
        Interlocked.Increment(ref _failedBatches);
        Interlocked.Add(ref _pendingOperations, -operations);
    }

    /// <summary>Records that failed to decode at load and were skipped.</summary>
    public void Skipped(int records) => Interlocked.Add(ref _corruptRecordsSkipped, records);
}
