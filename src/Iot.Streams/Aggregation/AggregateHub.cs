using System.Threading.Channels;

namespace Iot.Streams.Aggregation;

/// <summary>
/// Fans aggregate results out to live readers (the SSE endpoint). Each reader has a bounded channel that drops its
/// oldest result when the reader falls behind (counted): live views prefer fresh data, and a slow reader never holds
/// back the aggregation.
/// </summary>
public sealed class AggregateHub
{
    private readonly Lock _lock = new();
    private ImmutableReaders _readers = new([]);
    private long _dropped;

    /// <summary>Results dropped because a reader was too slow.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Current readers.</summary>
    public int Readers => _readers.Items.Length;

    /// <summary>Subscribes; dispose the subscription to stop. <paramref name="filter"/> selects the results wanted.</summary>
    public Subscription Subscribe(Func<AggregateResult, bool> filter, int capacity = 1024)
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

        return new Subscription(channel.Reader, () =>
        {
            lock (_lock)
            {
                _readers = new([.. _readers.Items.Where(r => r != reader)]);
            }

            channel.Writer.TryComplete();
        });
    }

    /// <summary>Offers a result to every reader whose filter accepts it.</summary>
    public void Publish(AggregateResult result)
    {
        foreach (var reader in _readers.Items)
        {
            if (reader.Filter(result))
            {
                reader.Channel.Writer.TryWrite(result);
            }
        }
    }

    /// <summary>A live subscription to results.</summary>
    public sealed class Subscription(ChannelReader<AggregateResult> reader, Action unsubscribe) : IDisposable
    {
        /// <summary>The results, in emission order.</summary>
        public ChannelReader<AggregateResult> Results { get; } = reader;

        /// <inheritdoc/>
        public void Dispose() => unsubscribe();
    }

    private sealed record Reader(Channel<AggregateResult> Channel, Func<AggregateResult, bool> Filter);

    private sealed record ImmutableReaders(Reader[] Items);
}
