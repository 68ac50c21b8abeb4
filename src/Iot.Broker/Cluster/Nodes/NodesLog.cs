namespace Iot.Broker.Cluster.Nodes;

/// <summary>Log messages of the node registry and the cut-off (event ids 1900-1919).</summary>
internal static partial class NodesLog
{
    [LoggerMessage(EventId = 1900, Level = LogLevel.Information, Message = "Cluster node {NodeId} (incarnation {Incarnation}) joined: bucket {Bucket}, heartbeat every {HeartbeatMs} ms, node timeout {TimeoutMs} ms")]
    public static partial void Joined(ILogger logger, string nodeId, string incarnation, string bucket, long heartbeatMs, long timeoutMs);

    [LoggerMessage(EventId = 1901, Level = LogLevel.Information, Message = "Cluster node {NodeId} (incarnation {Incarnation}) is alive")]
    public static partial void NodeAlive(ILogger logger, string nodeId, string incarnation);

    [LoggerMessage(EventId = 1902, Level = LogLevel.Warning, Message = "Cluster node {NodeId} (incarnation {Incarnation}) is dead: last heartbeat at {HeartbeatAt:O}")]
    public static partial void NodeDead(ILogger logger, string nodeId, string incarnation, DateTimeOffset heartbeatAt);

    [LoggerMessage(EventId = 1903, Level = LogLevel.Information, Message = "Claimed dead cluster node {NodeId} (incarnation {Incarnation}): this node takes over its wills and session expiry")]
    public static partial void Claimed(ILogger logger, string nodeId, string incarnation);

    [LoggerMessage(EventId = 1904, Level = LogLevel.Debug, Message = "Dead cluster node {NodeId} (incarnation {Incarnation}) was claimed by another node")]
    public static partial void ClaimedElsewhere(ILogger logger, string nodeId, string incarnation);

    [LoggerMessage(EventId = 1905, Level = LogLevel.Warning, Message = "Could not claim dead cluster node {NodeId} (incarnation {Incarnation}); trying again: {Reason}")]
    public static partial void ClaimFailed(ILogger logger, string nodeId, string incarnation, string reason);

    [LoggerMessage(EventId = 1906, Level = LogLevel.Error, Message = "A handler of dead cluster node {NodeId} (incarnation {Incarnation}) failed")]
    public static partial void HandlerFailed(ILogger logger, string nodeId, string incarnation, Exception exception);

    [LoggerMessage(EventId = 1907, Level = LogLevel.Warning, Message = "Heartbeat of cluster node {NodeId} failed (failures in a row: {Failures}): {Reason}")]
    public static partial void HeartbeatFailed(ILogger logger, string nodeId, int failures, string reason);

    [LoggerMessage(EventId = 1908, Level = LogLevel.Information, Message = "Heartbeat of cluster node {NodeId} written again after {Failures} failures")]
    public static partial void HeartbeatRecovered(ILogger logger, string nodeId, int failures);

    [LoggerMessage(EventId = 1909, Level = LogLevel.Warning, Message = "Watching the cluster node records failed; watching again: {Reason}")]
    public static partial void WatchFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 1910, Level = LogLevel.Warning, Message = "Lost the connection to NATS: MQTT clients are closed if it is not back within {CutOffMs} ms (Iot:Cluster:CutOffTimeout)")]
    public static partial void NatsDisconnected(ILogger logger, long cutOffMs);

    [LoggerMessage(EventId = 1911, Level = LogLevel.Error, Message = "Cut off from NATS for {CutOffMs} ms (Iot:Cluster:CutOffTimeout): closing the MQTT clients (DISCONNECT 0x9C Use another server) and refusing CONNECTs (CONNACK 0x88 / 0x03 Server unavailable) until NATS is back")]
    public static partial void CutOff(ILogger logger, long cutOffMs);

    [LoggerMessage(EventId = 1912, Level = LogLevel.Warning, Message = "Closed {Count} MQTT clients: this node is cut off from NATS")]
    public static partial void CutOffClosed(ILogger logger, int count);

    [LoggerMessage(EventId = 1913, Level = LogLevel.Information, Message = "Connection to NATS is back after {DownMs} ms")]
    public static partial void NatsReconnected(ILogger logger, long downMs);

    [LoggerMessage(EventId = 1914, Level = LogLevel.Information, Message = "Connection to NATS is back after {DownMs} ms: accepting MQTT clients again")]
    public static partial void CutOffEnded(ILogger logger, long downMs);
}
