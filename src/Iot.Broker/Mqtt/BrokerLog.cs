namespace Iot.Broker.Mqtt;

internal static partial class BrokerLog
{
    [LoggerMessage(EventId = 1010, Level = LogLevel.Debug, Message = "Client {ClientId} connected (MQTT {ProtocolVersion}, clean start {CleanStart}, session present {SessionPresent}, expiry {SessionExpiry} s)")]
    public static partial void ClientConnected(ILogger logger, string clientId, int protocolVersion, bool cleanStart, bool sessionPresent, uint sessionExpiry);

    [LoggerMessage(EventId = 1011, Level = LogLevel.Debug, Message = "Client {ClientId} disconnected (clean {Clean}, broker reason {Reason})")]
    public static partial void ClientDisconnected(ILogger logger, string clientId, bool clean, MQTTnet.Protocol.MqttDisconnectReasonCode? reason);

    [LoggerMessage(EventId = 1012, Level = LogLevel.Information, Message = "Connection {ConnectionId} closed: {Reason}")]
    public static partial void ConnectionRejected(ILogger logger, string connectionId, string reason);

    [LoggerMessage(EventId = 1013, Level = LogLevel.Information, Message = "Client {ClientId} violated the protocol and was disconnected with reason {ReasonCode}: {Detail}")]
    public static partial void ProtocolViolation(ILogger logger, string clientId, MQTTnet.Protocol.MqttDisconnectReasonCode reasonCode, string detail);

    [LoggerMessage(EventId = 1014, Level = LogLevel.Warning, Message = "Connection {ConnectionId} failed")]
    public static partial void ConnectionFailed(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(EventId = 1015, Level = LogLevel.Debug, Message = "Client {ClientId} was taken over by a new connection")]
    public static partial void SessionTakenOver(ILogger logger, string clientId);

    [LoggerMessage(EventId = 1060, Level = LogLevel.Information, Message = "Session {ClientId} resumed within its owner's current rights: {Subscriptions} subscriptions and {Messages} queued messages no longer allowed were dropped")]
    public static partial void SessionNarrowedToRights(ILogger logger, string clientId, int subscriptions, int messages);

    [LoggerMessage(EventId = 1061, Level = LogLevel.Information, Message = "Ended {Count} sessions of deleted identity {Identity}")]
    public static partial void SessionsOfDeletedIdentityEnded(ILogger logger, string identity, int count);

    [LoggerMessage(EventId = 1016, Level = LogLevel.Debug, Message = "Session {ClientId} expired")]
    public static partial void SessionExpired(ILogger logger, string clientId);

    [LoggerMessage(EventId = 1017, Level = LogLevel.Information, Message = "Restored {Sessions} persistent sessions with {Messages} queued messages and {Retained} retained messages")]
    public static partial void Restored(ILogger logger, int sessions, int messages, int retained);

    [LoggerMessage(EventId = 1018, Level = LogLevel.Error, Message = "A durable write for client {ClientId} failed; the publish is not acknowledged")]
    public static partial void DurableWriteFailed(ILogger logger, string clientId, Exception exception);

    [LoggerMessage(EventId = 1019, Level = LogLevel.Warning, Message = "Session maintenance failed")]
    public static partial void MaintenanceFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1020, Level = LogLevel.Debug, Message = "Will of {ClientId} published on {Topic}")]
    public static partial void WillPublished(ILogger logger, string clientId, string topic);

    [LoggerMessage(EventId = 1021, Level = LogLevel.Warning, Message = "A device-ready handler failed for {DeviceId}")]
    public static partial void CommandHandlerFailed(ILogger logger, string deviceId, Exception exception);

    [LoggerMessage(EventId = 1022, Level = LogLevel.Information, Message = "Compacted the heap after a connection surge ({Connections} connections): resident memory {BeforeMiB} MiB -> {AfterMiB} MiB, paused {PauseMs:F1} ms")]
    public static partial void HeapCompacted(ILogger logger, long connections, long beforeMiB, long afterMiB, double pauseMs);

    [LoggerMessage(EventId = 1023, Level = LogLevel.Information, Message = "Compacted the heap after start (Iot:Mqtt:CompactHeapAtStart): managed heap {HeapMiB} MiB, paused {PauseMs:F1} ms")]
    public static partial void HeapCompactedAtStart(ILogger logger, long heapMiB, double pauseMs);
}
