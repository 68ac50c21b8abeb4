using Microsoft.Extensions.Logging;

namespace Iot.Routing.Queues.JetStream;

/// <summary>Log messages of the JetStream queue store (event ids 2900-2929).</summary>
internal static partial class JetStreamQueueLog
{
    [LoggerMessage(2900, LogLevel.Warning, "Queue bucket {Bucket} not reachable yet (attempt {Attempt}); trying again")]
    public static partial void BucketRetry(ILogger logger, string bucket, int attempt, Exception exception);

    [LoggerMessage(2901, LogLevel.Warning, "The watch of {Bucket} failed; it restarts and re-reads the bucket")]
    public static partial void WatchFailed(ILogger logger, string bucket, Exception exception);

    [LoggerMessage(2902, LogLevel.Warning, "Skipped the unreadable definition of queue {Queue}")]
    public static partial void DefinitionSkipped(ILogger logger, string queue);

    [LoggerMessage(2903, LogLevel.Information, "Queue sweep purged {Markers} delete markers of completed messages and {MessageIds} expired message-id records")]
    public static partial void Swept(ILogger logger, int markers, int messageIds);

    [LoggerMessage(2904, LogLevel.Warning, "Queue sweep failed; it runs again after its interval")]
    public static partial void SweepFailed(ILogger logger, Exception exception);
}
