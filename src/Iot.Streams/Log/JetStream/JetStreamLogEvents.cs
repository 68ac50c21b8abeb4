using Microsoft.Extensions.Logging;

namespace Iot.Streams.Log.JetStream;

/// <summary>Log messages of the JetStream streams (event ids 3900-3929).</summary>
internal static partial class JetStreamLogEvents
{
    [LoggerMessage(3900, LogLevel.Warning, "Append to the JetStream stream {Stream} failed (not acknowledged): {Reason}")]
    public static partial void AppendFailed(ILogger logger, string stream, string reason);

    [LoggerMessage(3901, LogLevel.Warning, "Following the JetStream stream {Stream} failed ({Reason}); following again in 1 s")]
    public static partial void FollowFailed(ILogger logger, string stream, string reason);

    [LoggerMessage(3902, LogLevel.Information, "Streams on JetStream: {Streams} streams in bucket {Bucket}, consumer groups in {GroupsBucket}")]
    public static partial void Opened(ILogger logger, int streams, string bucket, string groupsBucket);

    [LoggerMessage(3903, LogLevel.Information, "Stream {Stream} created on JetStream with {Partitions} partitions")]
    public static partial void Created(ILogger logger, string stream, int partitions);

    [LoggerMessage(3904, LogLevel.Information, "Stream {Stream} ({Partitions} partitions) defined by another node: opened here")]
    public static partial void Discovered(ILogger logger, string stream, int partitions);

    [LoggerMessage(3905, LogLevel.Warning, "Watching the key-value bucket {Bucket} failed ({Reason}); watching again in 1 s")]
    public static partial void WatchFailed(ILogger logger, string bucket, string reason);

    [LoggerMessage(3906, LogLevel.Warning, "Skipped the unreadable entry {Key} of the key-value bucket {Bucket}: {Reason}")]
    public static partial void EntrySkipped(ILogger logger, string bucket, string key, string reason);

    [LoggerMessage(3907, LogLevel.Error, "Opening stream {Stream} defined by another node failed; it stays unknown here until it changes or this node restarts")]
    public static partial void DiscoverFailed(ILogger logger, string stream, Exception exception);
}
