using Iot.Streams.Hosting;
using Iot.Streams.Log;
using Iot.Streams.Partitioning;
using Microsoft.Extensions.Options;

namespace Iot.Streams.Aggregation;

/// <summary>
/// The recent results of a window, recomputed from its stream: the retained <c>aggregates/...</c> topics and the hub keep
/// only each key's latest result, and an output stream or InfluxDB are optional. Each partition's records since a time
/// (less the window's length and tolerance, so that the first windows are whole) go through a fresh
/// <see cref="WindowEngine"/> exactly as the live aggregation reads them, and the windows its watermark closes (with the
/// idle advance up to now when the window has it) are the answer: the same results the live aggregation published, from
/// whatever node holds the stream. Bounded twice: records read per request (<c>Iot:Streams:HistoryMaxRecords</c>, the
/// newest kept when over) and results returned (the newest kept).
/// </summary>
internal sealed class AggregateHistory(IStreamStore store, IPartitionMapper mapper, IOptions<StreamsOptions> options, TimeProvider time)
{
    private const int ReadBatch = 1000;

    /// <summary>The results of <paramref name="definition"/> whose window ends after <paramref name="since"/>, oldest end first.</summary>
    /// <param name="definition">A configured window.</param>
    /// <param name="key">Only this key's results; null for every key.</param>
    /// <param name="since">Results whose window ends after this time.</param>
    /// <param name="maxResults">The most results returned; the newest are kept.</param>
    /// <param name="cancellationToken">Ends the read.</param>
    public async Task<AggregateHistoryResponse> ReadAsync(WindowDefinition definition, string? key, DateTimeOffset since, int maxResults,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxResults, 1);
        var stream = store.Find(definition.Stream)
            ?? throw new InvalidOperationException($"There is no stream named '{definition.Stream}'.");
        // A key is a record key unless the window reads it from a payload field: then only its own partition holds it.
        int[] partitions = key is not null && definition.KeyField is null
            ? [mapper.MapToPartition(key, stream.Partitions)]
            : [.. Enumerable.Range(0, stream.Partitions)];
        var budget = Math.Max(1, options.Value.HistoryMaxRecords / partitions.Length);
        var lookBack = (definition.Kind == WindowKind.Session ? definition.Gap : definition.Size) + definition.Tolerance;
        var newest = new PriorityQueue<AggregateResult, DateTimeOffset>();
        var truncated = false;
        long scanned = 0;
        foreach (var partition in partitions)
        {
            var log = store.GetPartition(definition.Stream, partition);
            var end = log.NextOffset;
            var start = await log.FindOffsetAsync(since - lookBack, cancellationToken).ConfigureAwait(false);
            if (end - start > budget)
            {
                start = end - budget;
                truncated = true;
            }

            scanned += await ReplayAsync(definition, log, start, end, result =>
            {
                if (result.End <= since || (key is not null && result.Key != key))
                {
                    return;
                }

                if (newest.Count < maxResults)
                {
                    newest.Enqueue(result, result.End);
                }
                else
                {
                    truncated = true;
                    newest.EnqueueDequeue(result, result.End);
                }
            }, cancellationToken).ConfigureAwait(false);
        }

        var results = newest.UnorderedItems.Select(i => i.Element).OrderBy(r => r.End).ThenBy(r => r.Key, StringComparer.Ordinal).ToList();
        return new AggregateHistoryResponse(definition.Stream, definition.Name, since, results, truncated, scanned);
    }

    /// <summary>Feeds the records [start, end) to a new engine and hands each closed window to <paramref name="emit"/>; returns the records read.</summary>
    private async Task<long> ReplayAsync(WindowDefinition definition, IStreamLog log, long start, long end, Action<AggregateResult> emit,
        CancellationToken cancellationToken)
    {
        var engine = new WindowEngine(definition);
        var output = new List<AggregateResult>();
        DateTimeOffset? lastArrival = null;
        long read = 0;
        var offset = start;
        while (offset < end)
        {
            var records = await log.ReadAsync(offset, (int)Math.Min(ReadBatch, end - offset), cancellationToken).ConfigureAwait(false);
            if (records.Count == 0)
            {
                break;
            }

            foreach (var record in records)
            {
                if (record.Offset >= end)
                {
                    break;
                }

                read++;
                lastArrival = record.Timestamp;
                if (RecordParser.TryParse(definition, record, out var input))
                {
                    engine.OnEvent(input, output);
                }
            }

            offset = records[^1].Offset + 1;
            Flush(output, emit);
        }

        // As the live aggregation's idle tick: the watermark moves on with the time since the last record arrived.
        if (definition.IdleAdvance && lastArrival is { } last)
        {
            engine.AdvanceIdle(time.GetUtcNow() - last, output);
            Flush(output, emit);
        }

        return read;
    }

    private static void Flush(List<AggregateResult> output, Action<AggregateResult> emit)
    {
        foreach (var result in output)
        {
            emit(result);
        }

        output.Clear();
    }
}

/// <summary>The answer of <c>GET /api/streams/{name}/aggregates/history</c>.</summary>
/// <param name="Stream">The stream.</param>
/// <param name="Window">The window.</param>
/// <param name="Since">Results are windows that end after this time.</param>
/// <param name="Results">Oldest window end first.</param>
/// <param name="Truncated">True when older results were left out: more than <c>max</c> of them, or more records than <c>Iot:Streams:HistoryMaxRecords</c> to read.</param>
/// <param name="RecordsRead">Stream records read to compute them.</param>
public sealed record AggregateHistoryResponse(string Stream, string Window, DateTimeOffset Since, IReadOnlyList<AggregateResult> Results,
    bool Truncated, long RecordsRead);
