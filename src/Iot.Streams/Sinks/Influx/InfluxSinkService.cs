using System.Text;
using Iot.Messaging.Leases;
using Iot.Streams.Crossover;
using Iot.Streams.Internal;
using Iot.Streams.Log;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Iot.Streams.Sinks.Influx;

/// <summary>
/// Captures streams into InfluxDB, one loop per partition as the consumer group <c>influx</c>: read from the committed
/// offset, batch by size (<see cref="InfluxSinkOptions.BatchSize"/>) and time (<see cref="InfluxSinkOptions.FlushInterval"/>),
/// write (InfluxDB 1.x: <see cref="InfluxV1Writer"/>; 2.x: <see cref="InfluxV2Writer"/> on InfluxDB.Client), and commit
/// only after InfluxDB accepted the batch. Failed writes (429, 5xx, 401/403/404, network) are retried after the
/// server's <c>Retry-After</c> or an exponential back-off for as long as it takes, so an outage delays points and
/// loses none; a batch InfluxDB rejects as bad data (400/422, for example a field type conflict) is counted, logged
/// and skipped; a batch too large for the server (413) is written in halves. Each partition is a singleton
/// (<see cref="ISingletonLeases"/>): in a cluster one node writes it, and the node that takes its lease over resumes
/// from the committed offset (a batch written but not committed is written again: points overwrite by key and time).
/// </summary>
internal sealed class InfluxSinkService(IStreamStore store, IInfluxWriter writer, IOptions<InfluxSinkOptions> options,
    TimeProvider timeProvider, ISingletonLeases leases, ILogger<InfluxSinkService> logger, SinkCrossover? crossover = null) : BackgroundService
{
    /// <summary>The consumer group of the sink in each captured stream.</summary>
    public const string GroupName = "influx";

    private readonly InfluxSinkProgress _progress = new(timeProvider);

    private long _pointsWritten;
    private long _pointsRejected;
    private long _failedWrites;
    private long _recordsSkipped;

    /// <summary>Points InfluxDB accepted.</summary>
    public long PointsWritten => Interlocked.Read(ref _pointsWritten);

    /// <summary>Points in batches rejected as bad data.</summary>
    public long PointsRejected => Interlocked.Read(ref _pointsRejected);

    /// <summary>Writes that failed and were retried.</summary>
    public long FailedWrites => Interlocked.Read(ref _failedWrites);

    /// <summary>Records with no field to write (not JSON objects, or no numbers).</summary>
    public long RecordsSkipped => Interlocked.Read(ref _recordsSkipped);

    /// <summary>Whether the sink runs (<see cref="InfluxSinkOptions.Enabled"/>).</summary>
    public bool Enabled => options.Value.Enabled;

    /// <summary>How far behind the streams' heads the partitions this node writes are, and for how long.</summary>
    public InfluxSinkLag Lag => _progress.Snapshot();

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.Enabled)
        {
            return Task.CompletedTask;
        }

        var loops = new List<Task>();
        foreach (var stream in settings.Streams)
        {
            var definition = store.Find(stream)
                ?? throw new InvalidOperationException($"Iot:Influx:Streams: there is no stream named '{stream}'.");
            StreamsLog.SinkStarted(logger, GroupName, stream, settings.Url!, settings.Version);
            for (int partition = 0; partition < definition.Partitions; partition++)
            {
                loops.Add(SuperviseAsync(stream, partition, stoppingToken));
            }
        }

        return Task.WhenAll(loops);
    }

    private async Task SuperviseAsync(string stream, int partition, CancellationToken stoppingToken)
    {
        var lease = FencedCursor.LeaseName(stream, GroupName, partition);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await leases.RunWhileHeldAsync(lease, (held, ct) => RunAsync(stream, partition, held, ct), null, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // A failing partition restarts from its committed offset; the host stays up.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                StreamsLog.SinkFailed(logger, stream, partition, ex);
                await Task.Delay(options.Value.MinRetryDelay, timeProvider, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    internal async Task RunAsync(string stream, int partition, ISingletonLease lease, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var log = store.GetPartition(stream, partition);
        var groups = store.GetGroups(stream);
        var cursor = await FencedCursor.OpenAsync(groups, GroupName, partition, lease, cancellationToken).ConfigureAwait(false);
        var next = cursor.Committed?.Offset ?? log.StartOffset;
        var progress = _progress.Open(stream, partition, log, next);
        var line = new StringBuilder();
        var lines = new List<string>();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                // Collect a batch: full, or the flush interval after its first record.
                lines.Clear();
                var end = next;
                long? firstAt = null;
                while (lines.Count < settings.BatchSize)
                {
                    var records = await log.ReadAsync(end, settings.BatchSize - lines.Count, cancellationToken).ConfigureAwait(false);
                    foreach (var record in records)
                    {
                        line.Clear();
                        if (LineProtocol.TryAppend(line, stream, record))
                        {
                            lines.Add(line.ToString(0, line.Length - 1));
                        }
                        else
                        {
                            Interlocked.Increment(ref _recordsSkipped);
                        }

                        end = record.Offset + 1;
                    }

                    if (records.Count > 0)
                    {
                        firstAt ??= timeProvider.GetTimestamp();
                        progress.RecordsRead();
                        continue;
                    }

                    var remaining = firstAt is { } at ? settings.FlushInterval - timeProvider.GetElapsedTime(at) : Timeout.InfiniteTimeSpan;
                    if (firstAt is not null && remaining <= TimeSpan.Zero)
                    {
                        break;
                    }

                    using var flush = remaining == Timeout.InfiniteTimeSpan ? new CancellationTokenSource() : new CancellationTokenSource(remaining, timeProvider);
                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, flush.Token);
                    try
                    {
                        await log.WaitForRecordsAsync(end, wait.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        break;
                    }
                }

                if (lines.Count > 0)
                {
                    await WriteBatchAsync(stream, partition, lines, cancellationToken).ConfigureAwait(false);
                }

                if (end != next)
                {
                    await cursor.CommitAsync(new CommittedOffset(end, null), cancellationToken).ConfigureAwait(false);
                    progress.Advanced(end);
                    next = end;
                }
            }
        }
        finally
        {
            // Stopped (host or lease gone): this node no longer answers for the partition. A loop that failed keeps
            // its entry, so its lag keeps growing until it runs again.
            if (cancellationToken.IsCancellationRequested)
            {
                _progress.Close(stream, partition);
            }
        }
    }

    /// <summary>
    /// Writes the batch until InfluxDB has answered it for good: accepted, rejected as bad data, or (413) written in
    /// halves. Anything else is retried, so the caller commits only points InfluxDB acknowledged or refused for good.
    /// </summary>
    private async Task WriteBatchAsync(string stream, int partition, List<string> lines, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var delay = settings.MinRetryDelay;
        long? failingSince = null;
        while (true)
        {
            var result = await writer.WriteAsync(lines, cancellationToken).ConfigureAwait(false);
            switch (result.Outcome)
            {
                case WriteOutcome.Accepted:
                    Interlocked.Add(ref _pointsWritten, lines.Count);
                    _progress.Written();
                    return;
                case WriteOutcome.Rejected or WriteOutcome.TooLarge when lines.Count > 1 && result.Dropped is null:
                    // Too large (413), or bad data without a count of what was dropped (InfluxDB may have rejected the
                    // whole batch for one bad point): write each half on its own, so only the bad points are lost.
                    // Points that were written already are written again: a point overwrites itself (series + time).
                    StreamsLog.SinkSplit(logger, stream, lines.Count, result.Detail);
                    var half = lines.Count / 2;
                    await WriteBatchAsync(stream, partition, lines.GetRange(0, half), cancellationToken).ConfigureAwait(false);
                    await WriteBatchAsync(stream, partition, lines.GetRange(half, lines.Count - half), cancellationToken).ConfigureAwait(false);
                    return;
                case WriteOutcome.Rejected or WriteOutcome.TooLarge:
                    // A partial write (InfluxDB wrote the valid points of the batch and reports dropped=N), or one
                    // point that cannot be stored: the batch is done and must not be retried forever.
                    var dropped = Math.Clamp(result.Dropped ?? lines.Count, 0, lines.Count);
                    Interlocked.Add(ref _pointsRejected, dropped);
                    Interlocked.Add(ref _pointsWritten, lines.Count - dropped);
                    StreamsLog.SinkRejected(logger, stream, dropped, result.Detail);
                    return;
                default:
                    Interlocked.Increment(ref _failedWrites);
                    failingSince ??= timeProvider.GetTimestamp();
                    crossover?.WriteFailed("influx", stream, partition, failingSince.Value, result.Detail, FailedWrites);
                    // The server's Retry-After (429, 503) when it sent one, kept within MinRetryDelay..MaxRetryDelay.
                    var wait = result.RetryAfter is { } retryAfter
                        ? TimeSpan.FromTicks(Math.Clamp(retryAfter.Ticks, settings.MinRetryDelay.Ticks, settings.MaxRetryDelay.Ticks))
                        : delay;
                    StreamsLog.SinkRetry(logger, stream, lines.Count, result.Detail, wait);
                    await Task.Delay(wait, timeProvider, cancellationToken).ConfigureAwait(false);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, settings.MaxRetryDelay.Ticks));
                    break;
            }
        }
    }
}
