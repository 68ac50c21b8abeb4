namespace Iot.Broker.Cluster.Live;

/// <summary>Log messages of the live path across nodes (event ids 1920-1939).</summary>
internal static partial class LiveLog
{
    [LoggerMessage(EventId = 1920, Level = LogLevel.Information, Message = "Cluster live path: node {NodeId} publishes to and subscribes under {Prefix}")]
    public static partial void Started(ILogger logger, string nodeId, string prefix);

    [LoggerMessage(EventId = 1921, Level = LogLevel.Warning, Message = "Cluster live path: could not subscribe to NATS subject {Subject}; retrying")]
    public static partial void SubscribeFailed(ILogger logger, string subject, Exception exception);

    [LoggerMessage(EventId = 1922, Level = LogLevel.Debug, Message = "Cluster live path: a message on {Topic} could not be sent to the other nodes (at most once: it is lost for them)")]
    public static partial void PublishFailed(ILogger logger, string topic, Exception exception);

    [LoggerMessage(EventId = 1923, Level = LogLevel.Warning, Message = "Cluster live path: dropped an unreadable message on NATS subject {Subject} (another version of the broker, or not a broker's message)")]
    public static partial void Unreadable(ILogger logger, string subject);

    [LoggerMessage(EventId = 1924, Level = LogLevel.Debug, Message = "Cluster live path: a message on {Topic} for shared group {ShareName} (member {ClientId}) found no member on this node that may take it (it just left): dropped")]
    public static partial void NoSharedMember(ILogger logger, string topic, string shareName, string clientId);

    [LoggerMessage(EventId = 1925, Level = LogLevel.Warning, Message = "Cluster live path: could not unsubscribe from NATS subject {Subject}")]
    public static partial void UnsubscribeFailed(ILogger logger, string subject, Exception exception);
}
