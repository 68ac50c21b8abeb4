using System.Diagnostics.Metrics;
using Iot.Streams.Aggregation;
using Iot.Streams.Log;
using Iot.Streams.Sinks.Influx;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Streams.Hosting;

/// <summary>The streams layer's numbers for <c>/metrics</c> and OTLP (read by the broker's observable instruments), and its histogram.</summary>
public static class StreamsMetrics
{
    /// <summary>The meter of the streams layer's instruments.</summary>
    public const string MeterName = "Iot.Streams";

    /// <summary>Buckets (seconds) of a group write with its flush, 100 µs to 5 s.</summary>
    private static readonly double[] AppendBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

    /// <summary>
    /// <c>iot.stream.append.duration</c> on the host's <see cref="MeterName"/> meter: one group write of a partition log
    /// (the write and, with <c>Fsync=PerGroup</c>, its flush), tagged <c>stream</c>.
    /// </summary>
    internal static Histogram<double> CreateAppendDuration(IMeterFactory? meterFactory) =>
        (meterFactory?.Create(MeterName) ?? new Meter(MeterName)).CreateHistogram("iot.stream.append.duration", "s",
            "Time of one group write to a stream partition's log (the write and, with Iot:Streams:Fsync=PerGroup, its flush to disk); in cluster mode, of one append from its publish to JetStream's acknowledgement.",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = AppendBuckets });

    /// <summary>Every family <see cref="Snapshot"/> may return: (name, <c>counter</c> or <c>gauge</c>, help).</summary>
    public static IReadOnlyList<(string Name, string Type, string Help)> Families { get; } =
    [
        ("iot_stream_next_offset", "gauge", "Next offset of each stream partition (records appended since the stream began)."),
        ("iot_aggregation_open_windows", "gauge", "Windows open per stream, window definition and partition."),
        ("iot_aggregation_late_dropped_total", "counter", "Events later than the watermark tolerance, dropped."),
        ("iot_aggregation_late_adjusted_total", "counter", "Late events moved to the watermark (policy adjust)."),
        ("iot_aggregation_invalid_records_total", "counter", "Records skipped: payload not a JSON object."),
        ("iot_aggregates_published_total", "counter", "Aggregate results published (MQTT retained, SSE)."),
        ("iot_aggregates_latest_kept", "gauge", "Stream, window and key combinations whose latest result is kept for SSE replay."),
        ("iot_aggregates_latest_limit", "gauge", "Iot:Streams:MaxLatestAggregates."),
        ("iot_aggregates_latest_refused_total", "counter", "Results of new keys not kept for replay because the limit was reached."),
        ("iot_influx_points_written_total", "counter", "Points InfluxDB accepted."),
        ("iot_influx_points_rejected_total", "counter", "Points InfluxDB rejected (field type conflicts): reported and skipped."),
        ("iot_influx_failed_writes_total", "counter", "Write attempts that failed and were retried (outage)."),
        ("iot_influx_records_skipped_total", "counter", "Stream records that made no point."),
    ];

    /// <summary>
    /// The samples of the streams, the aggregation and the InfluxDB sink, read now: the next offset of every partition,
    /// windows open, late events dropped or adjusted, aggregates published, sink points written or rejected.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <returns>(family name of <see cref="Families"/>, labels, value) in a stable order.</returns>
    public static IReadOnlyList<(string Name, KeyValuePair<string, object?>[] Labels, long Value)> Snapshot(IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var result = new List<(string, KeyValuePair<string, object?>[], long)>();
        if (services.GetService<IStreamStore>() is { } store)
        {
            foreach (var stream in store.Streams)
            {
                for (var p = 0; p < stream.Partitions; p++)
                {
                    result.Add(("iot_stream_next_offset", [new("stream", stream.Name), new("partition", Label(p))], store.GetPartition(stream.Name, p).NextOffset));
                }

                if (services.GetService<AggregationService>() is { } aggregation)
                {
                    foreach (var status in aggregation.Status(stream.Name))
                    {
                        KeyValuePair<string, object?>[] labels = [new("stream", stream.Name), new("window", status.Window), new("partition", Label(status.Partition))];
                        result.Add(("iot_aggregation_open_windows", labels, status.OpenWindows));
                        result.Add(("iot_aggregation_late_dropped_total", labels, status.DroppedLate));
                        result.Add(("iot_aggregation_late_adjusted_total", labels, status.AdjustedLate));
                        result.Add(("iot_aggregation_invalid_records_total", labels, status.InvalidRecords));
                    }
                }
            }
        }

        if (services.GetService<AggregatePublisher>() is { } publisher)
        {
            result.Add(("iot_aggregates_published_total", [], publisher.Published));
        }

        if (services.GetService<AggregateHub>() is { } hub)
        {
            result.Add(("iot_aggregates_latest_kept", [], hub.LatestCount));
            result.Add(("iot_aggregates_latest_limit", [], hub.MaxLatest));
            result.Add(("iot_aggregates_latest_refused_total", [], hub.LatestRefused));
        }

        if (services.GetService<InfluxSinkService>() is { } sink)
        {
            result.Add(("iot_influx_points_written_total", [], sink.PointsWritten));
            result.Add(("iot_influx_points_rejected_total", [], sink.PointsRejected));
            result.Add(("iot_influx_failed_writes_total", [], sink.FailedWrites));
            result.Add(("iot_influx_records_skipped_total", [], sink.RecordsSkipped));
        }

        return result;
    }

    private static string Label(int partition) => partition.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
