using System.Text;
using Iot.Messaging.Leases;
using Iot.Streams.Internal;
using Iot.Streams.Log;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Iot.Streams.Sinks.Influx;

/// <summary>
/// Captures streams into InfluxDB, one loop per partition as the consumer group <c>influx</c>: read from the committed
/// offset, batch by size (<see cref="InfluxSinkOptions.BatchSize"/>) and time (<see cref="InfluxSinkOptions.FlushInterval"/>),
/// write, and commit only after InfluxDB accepted the batch. Failed writes are retried with exponential backoff for as
/// long as it takes, so an outage delays points and loses none; a batch InfluxDB rejects as bad data (400/422, for
/// example a field type conflict) is counted, logged and skipped. Each partition is a singleton
/// (<see cref="ISingletonLeases"/>): in a cluster one node writes it, and the node that takes its lease over resumes
/// from the committed offset (a batch written but not committed is written again: points overwrite by key and time).
/// </summary>
internal sealed class InfluxSinkService(IStreamStore store, InfluxWriter writer, IOptions<InfluxSinkOptions> options,
    TimeProvider timeProvider, ISingletonLeases leases, ILogger<InfluxSinkService> logger) : BackgroundService
{
    /// <summary>The consumer group of the sink in each captured stream.</summary>
    public const string GroupName = "influx";

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
        var lines = new StringBuilder();
        while (!cancellationToken.IsCancellationRequested)
        {
            // Collect a batch: full, or the flush interval after its first record.
            lines.Clear();
            var points = 0;
            var end = next;
            long? firstAt = null;
            while (points < settings.BatchSize)
            {
                var records = await log.ReadAsync(end, settings.BatchSize - points, cancellationToken).ConfigureAwait(false);
                foreach (var record in records)
                {
                    if (LineProtocol.TryAppend(lines, stream, record))
                    {
                        points++;
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
                    continue;
                }

                var remaining = firstAt is { } at ? settings.FlushInterval - timeProvider.GetElapsedTime(at) : Timeout.InfiniteTimeSpan;
                if (firstAt is not null && remaining <= TimeSpan.Zero)
                {
                    break;
                }

                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                if (remaining != Timeout.InfiniteTimeSpan)
                {
                    wait.CancelAfter(remaining);
                }

                try
                {
                    await log.WaitForRecordsAsync(end, wait.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    break;
                }
            }

            if (points > 0)
            {
                await WriteUntilDoneAsync(stream, lines.ToString(), points, cancellationToken).ConfigureAwait(false);
            }

            if (end != next)
            {
                await cursor.CommitAsync(new CommittedOffset(end, null), cancellationToken).ConfigureAwait(false);
                next = end;
            }
        }
    }

    private async Task WriteUntilDoneAsync(string stream, string lines, int points, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var delay = settings.MinRetryDelay;
        while (true)
        {
            var (outcome, detail) = await writer.WriteAsync(lines, cancellationToken).ConfigureAwait(false);
            switch (outcome)
            {
                case WriteOutcome.Accepted:
                    Interlocked.Add(ref _pointsWritten, points);
                    return;
                case WriteOutcome.Rejected:
                    // InfluxDB 1.x writes the valid points of a batch with a type conflict ("partial write") and
                    // reports the rest; either way the batch is done and must not be retried forever.
                    Interlocked.Add(ref _pointsRejected, points);
                    StreamsLog.SinkRejected(logger, stream, points, detail);
                    return;
                default:
                    Interlocked.Increment(ref _failedWrites);
                    StreamsLog.SinkRetry(logger, stream, points, detail, delay);
                    await Task.Delay(delay, timeProvider, cancellationToken).ConfigureAwait(false);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, settings.MaxRetryDelay.Ticks));
                    break;
            }
        }
    }
}
