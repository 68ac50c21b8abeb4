using Iot.Streams.Aggregation;
using Iot.Streams.Log;
using Iot.Streams.Sinks.Influx;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Streams.Hosting;

/// <summary>The streams layer's numbers for <c>/metrics</c>, each with its Prometheus name, type and labels.</summary>
public static class StreamsMetrics
{
    /// <summary>
    /// Gauges and counters of the streams, the aggregation and the InfluxDB sink: the next offset of every partition,
    /// windows open, late events dropped or adjusted, aggregates published, sink points written or rejected.
    /// </summary>
    /// <param name="services">The host's services.</param>
    /// <returns>(name with labels, type, help, value) in a stable order.</returns>
    public static IReadOnlyList<(string Name, string Type, string Help, long Value)> Snapshot(IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(services);
        var result = new List<(string, string, string, long)>();
        if (services.GetService<IStreamStore>() is { } store)
        {
            foreach (var stream in store.Streams)
            {
                for (var p = 0; p < stream.Partitions; p++)
                {
                    result.Add(($"iot_stream_next_offset{{stream=\"{stream.Name}\",partition=\"{p}\"}}", "gauge",
                        "Next offset of each stream partition (records appended since the stream began).", store.GetPartition(stream.Name, p).NextOffset));
                }

                if (services.GetService<AggregationService>() is { } aggregation)
                {
                    foreach (var status in aggregation.Status(stream.Name))
                    {
                        var labels = $"{{stream=\"{stream.Name}\",window=\"{status.Window}\",partition=\"{status.Partition}\"}}";
                        result.Add(($"iot_aggregation_open_windows{labels}", "gauge", "Windows open per stream, window definition and partition.", status.OpenWindows));
                        result.Add(($"iot_aggregation_late_dropped_total{labels}", "counter", "Events later than the watermark tolerance, dropped.", status.DroppedLate));
                        result.Add(($"iot_aggregation_late_adjusted_total{labels}", "counter", "Late events moved to the watermark (policy adjust).", status.AdjustedLate));
                        result.Add(($"iot_aggregation_invalid_records_total{labels}", "counter", "Records skipped: payload not a JSON object.", status.InvalidRecords));
                    }
                }
            }
        }

        if (services.GetService<AggregatePublisher>() is { } publisher)
        {
            result.Add(("iot_aggregates_published_total", "counter", "Aggregate results published (MQTT retained, SSE).", publisher.Published));
        }

        if (services.GetService<AggregateHub>() is { } hub)
        {
            result.Add(("iot_aggregates_latest_kept", "gauge", "Stream, window and key combinations whose latest result is kept for SSE replay.", hub.LatestCount));
            result.Add(("iot_aggregates_latest_limit", "gauge", "Iot:Streams:MaxLatestAggregates.", hub.MaxLatest));
            result.Add(("iot_aggregates_latest_refused_total", "counter", "Results of new keys not kept for replay because the limit was reached.", hub.LatestRefused));
        }

        if (services.GetService<InfluxSinkService>() is { } sink)
        {
            result.Add(("iot_influx_points_written_total", "counter", "Points InfluxDB accepted.", sink.PointsWritten));
            result.Add(("iot_influx_points_rejected_total", "counter", "Points InfluxDB rejected (field type conflicts): reported and skipped.", sink.PointsRejected));
            result.Add(("iot_influx_failed_writes_total", "counter", "Write attempts that failed and were retried (outage).", sink.FailedWrites));
            result.Add(("iot_influx_records_skipped_total", "counter", "Stream records that made no point.", sink.RecordsSkipped));
        }

        return result;
    }
}
