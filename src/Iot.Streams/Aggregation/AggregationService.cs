using System.Globalization;
using System.Reactive.Concurrency;
using Iot.Messaging.Leases;
using Iot.Streams.Hosting;
using Iot.Streams.Internal;
using Iot.Streams.Log;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Iot.Streams.Aggregation;

/// <summary>
/// Runs every configured window over every partition of its stream, each as the consumer group
/// <c>aggregate.{window}</c>: read a batch, feed it to the Rx pipeline, publish the windows it closed, then commit
/// the lowest offset open windows still need together with the watermark. A restart replays from that offset and the
/// stored watermark keeps windows that were already published from being published again. Each window x partition is
/// a singleton (<see cref="ISingletonLeases"/>): in a cluster it runs on the node that holds its lease, and the node
/// that takes the lease over resumes from the committed offset the same way.
/// </summary>
internal sealed class AggregationService(IStreamStore store, AggregatePublisher publisher, IOptions<StreamsOptions> options,
    IScheduler scheduler, TimeProvider timeProvider, ISingletonLeases leases, ILogger<AggregationService> logger) : BackgroundService
{
    private const int BatchSize = 512;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<(string Window, int Partition), PartitionAggregator> _running = new();

    /// <summary>The state of every window and partition of <paramref name="stream"/> running on this node.</summary>
    public IReadOnlyList<AggregationStatus> Status(string stream) =>
        [.. _running.Where(r => r.Value.Definition.Stream == stream).OrderBy(r => r.Key.Window, StringComparer.Ordinal).ThenBy(r => r.Key.Partition)
            .Select(r => r.Value.Status(r.Key.Partition))];

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var loops = new List<Task>();
        foreach (var definition in options.Value.Windows)
        {
            var stream = store.Find(definition.Stream)
                ?? throw new InvalidOperationException($"Iot:Streams:Windows '{definition.Name}': there is no stream named '{definition.Stream}'.");
            for (int partition = 0; partition < stream.Partitions; partition++)
            {
                loops.Add(SuperviseAsync(definition, partition, stoppingToken));
            }
        }

        return Task.WhenAll(loops);
    }

    private async Task SuperviseAsync(WindowDefinition definition, int partition, CancellationToken stoppingToken)
    {
        var lease = FencedCursor.LeaseName(definition.Stream, definition.GroupName, partition);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await leases.RunWhileHeldAsync(lease, (held, ct) => RunAsync(definition, partition, held, ct), null, stoppingToken)
                    .ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // A failing partition restarts from its committed offset; the host stays up.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                StreamsLog.AggregationFailed(logger, definition.Name, partition, ex);
                await Task.Delay(TimeSpan.FromSeconds(1), timeProvider, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    internal async Task RunAsync(WindowDefinition definition, int partition, ISingletonLease lease, CancellationToken cancellationToken)
    {
        var log = store.GetPartition(definition.Stream, partition);
        var groups = store.GetGroups(definition.Stream);
        var cursor = await FencedCursor.OpenAsync(groups, definition.GroupName, partition, lease, cancellationToken).ConfigureAwait(false);
        var committed = cursor.Committed;
        var next = committed?.Offset ?? log.StartOffset;
        var suppress = committed?.Metadata is { } metadata ? long.Parse(metadata, CultureInfo.InvariantCulture) : long.MinValue;
        StreamsLog.AggregationResumed(logger, definition.Name, definition.Stream, partition, next,
            suppress == long.MinValue ? "none" : DateTimeOffset.FromUnixTimeMilliseconds(suppress).ToString("O", CultureInfo.InvariantCulture));

        using var aggregator = new PartitionAggregator(definition, suppress, scheduler, options.Value.IdleTick);
        _running[(definition.Name, partition)] = aggregator;
        try
        {
            await AggregateAsync(definition, partition, log, cursor, aggregator, next, suppress, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            // However the run ends (lease lost, a refused commit, a failed read): this node no longer runs the partition.
            _running.TryRemove(new KeyValuePair<(string, int), PartitionAggregator>((definition.Name, partition), aggregator));
        }
    }

    private async Task AggregateAsync(WindowDefinition definition, int partition, IStreamLog log, FencedCursor cursor, PartitionAggregator aggregator,
        long next, long suppress, CancellationToken cancellationToken)
    {
        var lastCommit = cursor.Committed ?? new CommittedOffset(next, null);
        while (!cancellationToken.IsCancellationRequested)
        {
            var records = await log.ReadAsync(next, BatchSize, cancellationToken).ConfigureAwait(false);
            if (records.Count == 0)
            {
                using var wake = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                var more = log.WaitForRecordsAsync(next, wake.Token).AsTask();
                await Task.WhenAny(more, aggregator.WaitForResultsAsync()).ConfigureAwait(false);
                await wake.CancelAsync().ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
            }

            foreach (var record in records)
            {
                if (!aggregator.OnRecord(record))
                {
                    StreamsLog.InvalidRecord(logger, record.Offset, definition.Stream, partition, definition.Name);
                }

                next = record.Offset + 1;
            }

            var (results, low, watermark) = aggregator.Drain();
            if (results.Count > 0)
            {
                await publisher.PublishAsync(definition, results, cancellationToken).ConfigureAwait(false);
            }

            // Commit only after publishing: a crash in between re-publishes (retained MQTT and InfluxDB points
            // overwrite by key and time), it never loses a window.
            // The stored watermark never goes back, even while a replay's own watermark is still catching up.
            var commit = new CommittedOffset(low ?? next, Math.Max(watermark, suppress) is var stored && stored != long.MinValue
                ? stored.ToString(CultureInfo.InvariantCulture) : null);
            if (commit != lastCommit)
            {
                await cursor.CommitAsync(commit, cancellationToken).ConfigureAwait(false);
                lastCommit = commit;
            }
        }
    }
}
