using System.Diagnostics.Metrics;

namespace Iot.Broker.Mqtt;

/// <summary>
/// Broker counters and gauges, updated lock-free on the hot path and read at collection time by the observable instruments
/// of the <see cref="MeterName"/> meter (<c>Hosting/Telemetry/BrokerInstruments</c>): the plain counters by
/// <see cref="BrokerCounter"/>, the labelled ones by <see cref="DropReason"/> and <see cref="LimitKind"/>. The two
/// histograms are recorded where the time is measured.
/// </summary>
internal sealed class BrokerMetrics
{
    /// <summary>The meter of the MQTT broker's instruments.</summary>
    public const string MeterName = "Iot.Mqtt";

    /// <summary>Buckets (seconds) of <see cref="DeliveryDuration"/>: an in-memory hand-off, 10 µs to 1 s.</summary>
    private static readonly double[] DeliveryBuckets = [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

    /// <summary>Buckets (seconds) of a durable write (a group commit with its fsync), 100 µs to 5 s.</summary>
    internal static readonly double[] DurableWriteBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

    private readonly long[] _counters = new long[BrokerCounters.All.Length];
    private readonly long[] _dropped = new long[Enum.GetValues<DropReason>().Length];
    private readonly long[] _limitHits = new long[Enum.GetValues<LimitKind>().Length];
    private long _connections;
    private long _retainedPending;
    private long _heapCompactionMicroseconds;
    private long _heapStartupCompactionMicroseconds;

    /// <summary>The meter the broker's instruments belong to (one per host, from its <see cref="IMeterFactory"/>).</summary>
    public Meter Meter { get; }

    /// <summary>
    /// <c>iot.mqtt.delivery.duration</c>: from the dispatcher taking an accepted PUBLISH to every matching session having
    /// its copy (written to the connection's outbound writer, or queued when the session is offline or its window is full).
    /// One measurement per message that matched at least one subscription.
    /// </summary>
    public Histogram<double> DeliveryDuration { get; }

    /// <summary><c>iot.store.commit.duration</c>: one group commit of the session store (its transaction and fsync).</summary>
    public Histogram<double> StoreCommitDuration { get; }

    /// <summary>Creates the counters and, on the host's meter, the histograms.</summary>
    /// <param name="meterFactory">The host's meter factory; without it (unit tests) the histograms record to nobody.</param>
    public BrokerMetrics(IMeterFactory? meterFactory = null)
    {
        Meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        DeliveryDuration = Meter.CreateHistogram(
            "iot.mqtt.delivery.duration", "s",
            "Time from the broker accepting a PUBLISH to its copies handed to every matching session's outbound writer (or queue).",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DeliveryBuckets });
        StoreCommitDuration = Meter.CreateHistogram(
            "iot.store.commit.duration", "s",
            "Time of one group commit of the session store (persistent sessions' messages, retained messages), fsync included.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurableWriteBuckets });
    }

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
