using System.Collections.Concurrent;
using Iot.Streams.Log;

namespace Iot.Streams.Sinks.Influx;

/// <summary>How far the InfluxDB sink is behind, over the partitions this node writes.</summary>
/// <param name="RecordsBehind">Records appended to the captured streams and not yet committed by the sink.</param>
/// <param name="WaitingFor">
/// How long the partition that has waited longest has had records to write and no write accepted (zero when every
/// partition is caught up): it grows through an InfluxDB outage, a rejected token or a stuck loop.
/// </param>
/// <param name="LastWriteAt">When InfluxDB last acknowledged a write of this node's sink; null before the first.</param>
public readonly record struct InfluxSinkLag(long RecordsBehind, TimeSpan WaitingFor, DateTimeOffset? LastWriteAt);

/// <summary>The sink's progress per partition (committed offset, and since when records wait), read by <see cref="InfluxSinkLag"/>.</summary>
internal sealed class InfluxSinkProgress(TimeProvider timeProvider)
{
    private const long None = long.MinValue;
    private readonly ConcurrentDictionary<(string Stream, int Partition), Partition> _partitions = new();
    private long _lastWriteTicks = None;

    /// <summary>The partition's loop starts (or starts again) at <paramref name="committed"/>.</summary>
    public Partition Open(string stream, int partition, IStreamLog log, long committed)
    {
        var state = _partitions.GetOrAdd((stream, partition), _ => new Partition(log, timeProvider));
        state.Log = log;
        state.Restart(committed);
        return state;
    }

    /// <summary>The loop stopped because its lease or the host went: another node (or nobody) writes the partition now.</summary>
    public void Close(string stream, int partition) => _partitions.TryRemove((stream, partition), out _);

    /// <summary>InfluxDB acknowledged a write.</summary>
    public void Written() => Interlocked.Exchange(ref _lastWriteTicks, timeProvider.GetUtcNow().UtcTicks);

    public InfluxSinkLag Snapshot()
    {
        long behind = 0;
        var waiting = TimeSpan.Zero;
        foreach (var state in _partitions.Values)
        {
            var partitionBehind = Math.Max(0, state.Log.NextOffset - state.CommittedOffset);
            behind += partitionBehind;
            var since = state.PendingSince;
            if (partitionBehind > 0 && since != None)
            {
                var elapsed = timeProvider.GetElapsedTime(since);
                waiting = elapsed > waiting ? elapsed : waiting;
            }
        }

        var last = Interlocked.Read(ref _lastWriteTicks);
        return new InfluxSinkLag(behind, waiting, last == None ? null : new DateTimeOffset(last, TimeSpan.Zero));
    }

    /// <summary>One partition's state; its loop is its only writer.</summary>
    internal sealed class Partition(IStreamLog log, TimeProvider timeProvider)
    {
        private long _committed;
        private long _pendingSince = None;

        public IStreamLog Log { get; set; } = log;

        public long CommittedOffset => Interlocked.Read(ref _committed);

        /// <summary>A <see cref="TimeProvider.GetTimestamp"/> since when records wait; <c>long.MinValue</c> when none.</summary>
        public long PendingSince => Interlocked.Read(ref _pendingSince);

        /// <summary>The loop (re)starts at the committed offset; records that already waited keep waiting.</summary>
        public void Restart(long committed) => Interlocked.Exchange(ref _committed, committed);

        /// <summary>The loop read records to write: they wait from now on, unless earlier ones already did.</summary>
        public void RecordsRead()
        {
            if (PendingSince == None)
            {
                Interlocked.Exchange(ref _pendingSince, timeProvider.GetTimestamp());
            }
        }

        /// <summary>The offset is committed: what is left (if anything) waits from now on.</summary>
        public void Advanced(long offset)
        {
            Interlocked.Exchange(ref _committed, offset);
            Interlocked.Exchange(ref _pendingSince, Log.NextOffset > offset ? timeProvider.GetTimestamp() : None);
        }
    }
}
