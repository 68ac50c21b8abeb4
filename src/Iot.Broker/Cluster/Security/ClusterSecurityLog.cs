using Iot.Messaging;

namespace Iot.Broker.Cluster.Security;

/// <summary>Log messages of cluster-wide identities (event ids 1980-1989). Never secrets.</summary>
internal static partial class ClusterSecurityLog
{
    [LoggerMessage(EventId = 1980, Level = LogLevel.Information, Message = "Following identity changes in {Location} after revision {Revision}")]
    public static partial void Following(ILogger logger, string location, long revision);

    [LoggerMessage(EventId = 1981, Level = LogLevel.Warning, Message = "{Location}: the value of identity {IdentityId} at revision {Revision} cannot be read ({Reason}); the identity is removed on this node until it is written again")]
    private static partial void UnreadableIdentityCore(ILogger logger, string location, string identityId, long revision, string reason);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void UnreadableIdentity(ILogger logger, string location, string identityId, long revision, string reason)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            var safeIdentityId = LogSafe.Escape(identityId);
            var safeReason = LogSafe.Escape(reason);
            UnreadableIdentityCore(logger, location, safeIdentityId, revision, safeReason);
        }
    }

    [LoggerMessage(EventId = 1982, Level = LogLevel.Error, Message = "Following identity changes in {Location} failed after revision {Revision}; following again in a second")]
    public static partial void FollowFailed(ILogger logger, Exception exception, string location, long revision);
}
