using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Iot.Streams.Aggregation;

/// <summary>
/// Fans aggregate results out to live readers (the SSE endpoint). Each reader has a bounded channel that drops its
/// oldest result when the reader falls behind (counted): live views prefer fresh data, and a slow reader never holds
/// back the aggregation. It also keeps the latest result of every stream, window and key (up to
/// <see cref="MaxLatest"/> of them, <c>Iot:Streams:MaxLatestAggregates</c>), so that a dashboard that opens shows
/// values at once instead of waiting a window.
/// </summary>
/// <param name="maxLatest">The most (stream, window, key) combinations whose latest result is kept.</param>
public sealed class AggregateHub(int maxLatest = AggregateHub.DefaultMaxLatest)
{
    /// <summary>The default of <c>Iot:Streams:MaxLatestAggregates</c>.</summary>
    public const int DefaultMaxLatest = 100_000;

    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<(string Stream, string Window, string Key), AggregateResult> _latest = new();
    private int _latestCount;
    private long _latestRefused;
    private ImmutableReaders _readers = new([]);
    private long _dropped;

    /// <summary>The most (stream, window, key) combinations whose latest result is kept; new keys beyond it are not kept.</summary>
    public int MaxLatest { get; } = maxLatest >= 0 ? maxLatest : throw new ArgumentOutOfRangeException(nameof(maxLatest));

    /// <summary>How many (stream, window, key) combinations have their latest result kept.</summary>
    public int LatestCount => Volatile.Read(ref _latestCount);

    /// <summary>Results of new keys not kept as latest because <see cref="MaxLatest"/> was reached.</summary>
    public long LatestRefused => Interlocked.Read(ref _latestRefused);

    /// <summary>Results dropped because a reader was too slow.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Current readers.</summary>
    public int Readers => _readers.Items.Length;

    /// <summary>Opens a live feed of results; dispose it to stop. <paramref name="filter"/> selects the results wanted.</summary>
    public Feed OpenFeed(Func<AggregateResult, bool> filter, int capacity = 1024)
    {
        var channel = Channel.CreateBounded<AggregateResult>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        }, _ => Interlocked.Increment(ref _dropped));
        var reader = new Reader(channel, filter);
        lock (_lock)
        {
            _readers = new([.. _readers.Items, reader]);
        }

        return new Feed(channel.Reader, () =>
        {
            lock (_lock)
            {
                _readers = new([.. _readers.Items.Where(r => r != reader)]);
            }

            channel.Writer.TryComplete();
        });
    }

    /// <summary>The latest result of each stream, window and key that <paramref name="filter"/> accepts, oldest window end first.</summary>
    public IReadOnlyList<AggregateResult> Latest(Func<AggregateResult, bool> filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var results = new List<AggregateResult>();
        foreach (var (_, result) in _latest)
        {
            if (filter(result))
            {
                results.Add(result);
            }
        }

        results.Sort(static (a, b) => a.End.CompareTo(b.End));
        return results;
    }

    /// <summary>Offers a result to every reader whose filter accepts it, and keeps it as the latest of its key.</summary>
    public void Publish(AggregateResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var id = (result.Stream, result.Window, result.Key);
        if (_latest.ContainsKey(id))
        {
            _latest[id] = result;
        }
        else if (Interlocked.Increment(ref _latestCount) <= MaxLatest && _latest.TryAdd(id, result))
        {
            // Counted and added: a new key within the bound.
        }
        else
        {
            // Over the bound, or another thread added the same key first (then this result replaces its).
            Interlocked.Decrement(ref _latestCount);
            if (_latest.ContainsKey(id))
            {
                _latest[id] = result;
            }
            else
            {
                Interlocked.Increment(ref _latestRefused);
            }
        }

        foreach (var reader in _readers.Items)
        {
            if (reader.Filter(result))
            {
                reader.Channel.Writer.TryWrite(result);
            }
        }
    }

    /// <summary>A live feed of results (what the SSE endpoint streams to a dashboard).</summary>
    public sealed class Feed(ChannelReader<AggregateResult> reader, Action unsubscribe) : IDisposable
    {
        /// <summary>The results, in emission order.</summary>
        public ChannelReader<AggregateResult> Results { get; } = reader;

        /// <inheritdoc/>
        public void Dispose() => unsubscribe();
    }

    private sealed record Reader(Channel<AggregateResult> Channel, Func<AggregateResult, bool> Filter);

    private sealed record ImmutableReaders(Reader[] Items);
}
