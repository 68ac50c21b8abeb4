namespace Iot.Broker.Mqtt;

/// <summary>
/// Broker counters and gauges, updated lock-free on the hot path and rendered by <c>/metrics</c>: the plain counters by
/// <see cref="BrokerCounter"/>, the labelled ones by <see cref="DropReason"/> and <see cref="LimitKind"/>.
/// </summary>
internal sealed class BrokerMetrics
{
    private readonly long[] _counters = new long[BrokerCounters.All.Length];
    private readonly long[] _dropped = new long[Enum.GetValues<DropReason>().Length];
    private readonly long[] _limitHits = new long[Enum.GetValues<LimitKind>().Length];
    private long _connections;
    private long _retainedPending;
    private long _heapCompactionMicroseconds;
    private long _heapStartupCompactionMicroseconds;

    /// <summary>Adds <paramref name="count"/> to a counter.</summary>
    public void Add(BrokerCounter counter, long count = 1) => Interlocked.Add(ref _counters[(int)counter], count);

    /// <summary>A counter's value.</summary>
    public long Read(BrokerCounter counter) => Volatile.Read(ref _counters[(int)counter]);

    public long LimitHits(LimitKind limit) => Volatile.Read(ref _limitHits[(int)limit]);

    public void LimitHit(LimitKind limit) => Interlocked.Increment(ref _limitHits[(int)limit]);

    public long Dropped(DropReason reason) => Volatile.Read(ref _dropped[(int)reason]);

    public void MessageDropped(DropReason reason) => Interlocked.Increment(ref _dropped[(int)reason]);

    /// <summary>Open connections (a gauge).</summary>
    public long Connections => Volatile.Read(ref _connections);

    public void ConnectionOpened()
    {
        Add(BrokerCounter.ConnectionsAccepted);
        Interlocked.Increment(ref _connections);
    }

    public void ConnectionClosed() => Interlocked.Decrement(ref _connections);

    /// <summary>Retained messages that subscriptions still owe their sessions (matched at SUBSCRIBE, not yet sent).</summary>
    public long RetainedPending => Volatile.Read(ref _retainedPending);

    public void AddRetainedPending(long count) => Interlocked.Add(ref _retainedPending, count);

    /// <summary>Time the broker spent paused in compactions after connection surges (<see cref="HeapCompaction"/>), in seconds.</summary>
    public double HeapCompactionSeconds => Volatile.Read(ref _heapCompactionMicroseconds) / 1e6;

    /// <summary>The pause of the compaction at start (<see cref="MqttOptions.CompactHeapAtStart"/>); 0 before it or without it.</summary>
    public double HeapStartupCompactionSeconds => Volatile.Read(ref _heapStartupCompactionMicroseconds) / 1e6;

    public void HeapCompactedAtStart(TimeSpan pause) => Volatile.Write(ref _heapStartupCompactionMicroseconds, Math.Max(1, (long)pause.TotalMicroseconds));

    public void HeapCompacted(TimeSpan pause)
    {
        Add(BrokerCounter.HeapCompactions);
        Interlocked.Add(ref _heapCompactionMicroseconds, (long)pause.TotalMicroseconds);
    }
}
