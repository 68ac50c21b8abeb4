using Microsoft.Extensions.Logging;
using Iot.Messaging;

namespace Iot.Streams.Internal;

/// <summary>Log messages of the streams layer (event ids 3xxx).</summary>
internal static partial class StreamsLog
{
    [LoggerMessage(3001, LogLevel.Information, "Streams opened at {Path}: {Streams} streams")]
    public static partial void StoreOpened(ILogger logger, string path, int streams);

    [LoggerMessage(3098, LogLevel.Warning, "Skipped the unreadable file {File} ({Reason}); every other stream and group was loaded")]
    public static partial void FileSkipped(ILogger logger, string file, string reason);

    [LoggerMessage(3097, LogLevel.Warning, "Stream log {File}: cut {Bytes} bytes at position {Position}, after the last whole record with a valid CRC and the expected offset (the torn tail of an unacknowledged write after a crash, or damage: records after a damaged one are not served)")]
    public static partial void TailCut(ILogger logger, string file, long position, long bytes);

    [LoggerMessage(3002, LogLevel.Information, "Stream {Stream} created with {Partitions} partitions")]
    public static partial void StreamCreated(ILogger logger, string stream, int partitions);

    [LoggerMessage(3003, LogLevel.Information, "Aggregation {Window} over stream {Stream} partition {Partition} resumes at offset {Offset} (watermark {Watermark})")]
    public static partial void AggregationResumed(ILogger logger, string window, string stream, int partition, long offset, string watermark);

    [LoggerMessage(3004, LogLevel.Error, "Aggregation {Window} partition {Partition} failed; restarting from its committed offset")]
    public static partial void AggregationFailed(ILogger logger, string window, int partition, Exception exception);

    [LoggerMessage(3005, LogLevel.Warning, "Publishing aggregate {Window}/{Key} to MQTT failed")]
    private static partial void AggregatePublishFailedCore(ILogger logger, string window, string key, Exception exception);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void AggregatePublishFailed(ILogger logger, string window, string key, Exception exception)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            var safeWindow = LogSafe.Escape(window);
            var safeKey = LogSafe.Escape(key);
            AggregatePublishFailedCore(logger, safeWindow, safeKey, exception);
        }
    }

    [LoggerMessage(3015, LogLevel.Debug, "Retention removed {Records} records of stream {Stream} partition {Partition}")]
    public static partial void RetentionApplied(ILogger logger, string stream, int partition, long records);

    [LoggerMessage(3016, LogLevel.Warning, "Retention of stream {Stream} partition {Partition} failed; the next sweep tries again")]
    public static partial void RetentionFailed(ILogger logger, string stream, int partition, Exception exception);

    [LoggerMessage(3006, LogLevel.Warning, "Record {Offset} of stream {Stream} partition {Partition} is not a JSON object; skipped by aggregation {Window}")]
    public static partial void InvalidRecord(ILogger logger, long offset, string stream, int partition, string window);

    [LoggerMessage(3010, LogLevel.Information, "InfluxDB sink {Sink} writes stream {Stream} to {Url} (InfluxDB {Version})")]
    public static partial void SinkStarted(ILogger logger, string sink, string stream, Uri url, int version);

    [LoggerMessage(3011, LogLevel.Warning, "InfluxDB sink {Sink}: write of {Points} points failed ({Reason}); retry in {Delay}")]
    private static partial void SinkRetryCore(ILogger logger, string sink, int points, string reason, TimeSpan delay);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void SinkRetry(ILogger logger, string sink, int points, string reason, TimeSpan delay)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            var safeSink = LogSafe.Escape(sink);
            var safeReason = LogSafe.Escape(reason);
            SinkRetryCore(logger, safeSink, points, safeReason, delay);
        }
    }

    [LoggerMessage(3012, LogLevel.Warning, "InfluxDB sink {Sink} rejected {Points} points as bad data and skipped them: {Detail}")]
    private static partial void SinkRejectedCore(ILogger logger, string sink, int points, string detail);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void SinkRejected(ILogger logger, string sink, int points, string detail)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            var safeSink = LogSafe.Escape(sink);
            var safeDetail = LogSafe.Escape(detail);
            SinkRejectedCore(logger, safeSink, points, safeDetail);
        }
    }

    [LoggerMessage(3014, LogLevel.Warning, "InfluxDB sink {Sink}: a write of {Points} points was refused whole ({Detail}); writing it in two halves")]
    private static partial void SinkSplitCore(ILogger logger, string sink, int points, string detail);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void SinkSplit(ILogger logger, string sink, int points, string detail)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            SinkSplitCore(logger, LogSafe.Escape(sink), points, LogSafe.Escape(detail));
        }
    }

    [LoggerMessage(3013, LogLevel.Error, "InfluxDB sink {Sink} partition {Partition} failed; restarting from its committed offset")]
    public static partial void SinkFailed(ILogger logger, string sink, int partition, Exception exception);
}
