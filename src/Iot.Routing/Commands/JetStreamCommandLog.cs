using Microsoft.Extensions.Logging;

namespace Iot.Routing.Commands;

/// <summary>Log messages of the JetStream command store (event ids 2960-2979).</summary>
internal static partial class JetStreamCommandLog
{
    [LoggerMessage(2960, LogLevel.Warning, "Command bucket {Bucket} not reachable yet (attempt {Attempt}); trying again")]
    public static partial void BucketRetry(ILogger logger, string bucket, int attempt, Exception exception);

    [LoggerMessage(2961, LogLevel.Warning, "The watch of a command record in {Bucket} failed; it starts again")]
    public static partial void WatchFailed(ILogger logger, string bucket, Exception exception);

    [LoggerMessage(2962, LogLevel.Warning, "Skipped the unreadable command record {Key} of {Bucket}")]
    public static partial void RecordSkipped(ILogger logger, string bucket, string key);
}
