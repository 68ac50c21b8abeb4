using Iot.Messaging;
using Microsoft.Extensions.Logging;

namespace Iot.Routing.Internal.JetStream;

/// <summary>Log messages of the routing layer in cluster mode (event ids 2930-2959).</summary>
internal static partial class JetStreamRoutingLog
{
    [LoggerMessage(2930, LogLevel.Warning, "Following the bucket {Bucket} failed; resuming at revision {Revision} in a second")]
    public static partial void WatchFailed(ILogger logger, string bucket, ulong revision, Exception exception);

    [LoggerMessage(2931, LogLevel.Information, "Routing definitions loaded from {Bucket}: {Routes} routes, {Subscriptions} subscriptions; following the other nodes' changes")]
    public static partial void DefinitionsLoaded(ILogger logger, string bucket, int routes, int subscriptions);

    [LoggerMessage(2932, LogLevel.Warning, "Following the routing definitions in {Bucket} failed; loading them again in a second")]
    public static partial void FollowFailed(ILogger logger, string bucket, Exception exception);

    [LoggerMessage(2933, LogLevel.Warning, "{Bucket}: the {Table} definition {Name} stored by another node is not valid and was not applied ({Reason})")]
    private static partial void DefinitionRejectedCore(ILogger logger, string bucket, string table, string name, string reason);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void DefinitionRejected(ILogger logger, string bucket, string table, string name, string reason)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            DefinitionRejectedCore(logger, bucket, table, LogSafe.Escape(name) ?? "", LogSafe.Escape(reason) ?? "");
        }
    }

    [LoggerMessage(2934, LogLevel.Information, "Purged the deliveries of {Subscription}, which has no definition (a deletion interrupted before its purge)")]
    private static partial void OrphansPurgedCore(ILogger logger, string subscription);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void OrphansPurged(ILogger logger, string subscription)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            OrphansPurgedCore(logger, LogSafe.Escape(subscription) ?? "");
        }
    }

    [LoggerMessage(2935, LogLevel.Warning, "Sweeping the delete markers of delivered events from {Bucket} failed; trying again at the next sweep")]
    public static partial void SweepFailed(ILogger logger, string bucket, Exception exception);
}
