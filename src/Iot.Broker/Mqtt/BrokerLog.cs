using Iot.Messaging;

namespace Iot.Broker.Mqtt;

internal static partial class BrokerLog
{
    [LoggerMessage(EventId = 1010, Level = LogLevel.Debug, Message = "Client {ClientId} connected (MQTT {ProtocolVersion}, clean start {CleanStart}, session present {SessionPresent}, expiry {SessionExpiry} s)")]
    private static partial void ClientConnectedCore(ILogger logger, string clientId, int protocolVersion, bool cleanStart, bool sessionPresent, uint sessionExpiry);

    /// <summary>Logs with the client's values escaped (<see cref="LogSafe"/>).</summary>
    public static void ClientConnected(ILogger logger, string clientId, int protocolVersion, bool cleanStart, bool sessionPresent, uint sessionExpiry)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            var safeClientId = LogSafe.Escape(clientId);
            ClientConnectedCore(logger, safeClientId, protocolVersion, cleanStart, sessionPresent, sessionExpiry);
        }
    }

    [LoggerMessage(EventId = 1011, Level = LogLevel.Debug, Message = "Client {ClientId} disconnected (clean {Clean}, broker reason {Reason})")]
    private static partial void ClientDisconnectedCore(ILogger logger, string clientId, bool clean, MQTTnet.Protocol.MqttDisconnectReasonCode? reason);

    /// <summary>Logs with the client's values escaped (<see cref="LogSafe"/>).</summary>
    public static void ClientDisconnected(ILogger logger, string clientId, bool clean, MQTTnet.Protocol.MqttDisconnectReasonCode? reason)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            var safeClientId = LogSafe.Escape(clientId);
            ClientDisconnectedCore(logger, safeClientId, clean, reason);
        }
    }

    [LoggerMessage(EventId = 1012, Level = LogLevel.Debug, Message = "Connection {ConnectionId} closed: {Reason}")]
    private static partial void ConnectionRejectedCore(ILogger logger, string connectionId, string reason);

    /// <summary>Logs with the client's values escaped (<see cref="LogSafe"/>).</summary>
    public static void ConnectionRejected(ILogger logger, string connectionId, string reason)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            var safeReason = LogSafe.Escape(reason);
            ConnectionRejectedCore(logger, connectionId, safeReason);
        }
    }

    [LoggerMessage(EventId = 1013, Level = LogLevel.Information, Message = "Client {ClientId} violated the protocol and was disconnected with reason {ReasonCode}: {Detail}")]
    private static partial void ProtocolViolationCore(ILogger logger, string clientId, MQTTnet.Protocol.MqttDisconnectReasonCode reasonCode, string detail);

    /// <summary>Logs with the client's values escaped (<see cref="LogSafe"/>).</summary>
    public static void ProtocolViolation(ILogger logger, string clientId, MQTTnet.Protocol.MqttDisconnectReasonCode reasonCode, string detail)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            var safeClientId = LogSafe.Escape(clientId);
            var safeDetail = LogSafe.Escape(detail);
            ProtocolViolationCore(logger, safeClientId, reasonCode, safeDetail);
        }
    }

    [LoggerMessage(EventId = 1014, Level = LogLevel.Warning, Message = "Connection {ConnectionId} failed")]
    public static partial void ConnectionFailed(ILogger logger, string connectionId, Exception exception);

    [LoggerMessage(EventId = 1015, Level = LogLevel.Debug, Message = "Client {ClientId} was taken over by a new connection")]
    private static partial void SessionTakenOverCore(ILogger logger, string clientId);

    /// <summary>Logs with the client's values escaped (<see cref="LogSafe"/>).</summary>
    public static void SessionTakenOver(ILogger logger, string clientId)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            var safeClientId = LogSafe.Escape(clientId);
            SessionTakenOverCore(logger, safeClientId);
        }
    }

    [LoggerMessage(EventId = 1060, Level = LogLevel.Information, Message = "Session {ClientId} resumed within its owner's current rights: {Subscriptions} subscriptions and {Messages} queued messages no longer allowed were dropped")]
    private static partial void SessionNarrowedToRightsCore(ILogger logger, string clientId, int subscriptions, int messages);

    /// <summary>Logs with the client's values escaped (<see cref="LogSafe"/>).</summary>
    public static void SessionNarrowedToRights(ILogger logger, string clientId, int subscriptions, int messages)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            var safeClientId = LogSafe.Escape(clientId);
            SessionNarrowedToRightsCore(logger, safeClientId, subscriptions, messages);
        }
    }

    [LoggerMessage(EventId = 1061, Level = LogLevel.Information, Message = "Ended {Count} sessions of deleted identity {Identity}")]
    private static partial void SessionsOfDeletedIdentityEndedCore(ILogger logger, string identity, int count);

    /// <summary>Logs with the identity id escaped (<see cref="LogSafe"/>): ids stored before names were checked may hold anything.</summary>
    public static void SessionsOfDeletedIdentityEnded(ILogger logger, string identity, int count)
    {
        if (logger.IsEnabled(LogLevel.Information))
        {
            var safeIdentity = LogSafe.Escape(identity);
            SessionsOfDeletedIdentityEndedCore(logger, safeIdentity, count);
        }
    }

    [LoggerMessage(EventId = 1016, Level = LogLevel.Debug, Message = "Session {ClientId} expired")]
    private static partial void SessionExpiredCore(ILogger logger, string clientId);

    /// <summary>Logs with the client's values escaped (<see cref="LogSafe"/>).</summary>
    public static void SessionExpired(ILogger logger, string clientId)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            var safeClientId = LogSafe.Escape(clientId);
            SessionExpiredCore(logger, safeClientId);
        }
    }

    [LoggerMessage(EventId = 1017, Level = LogLevel.Information, Message = "Restored {Sessions} persistent sessions with {Messages} queued messages and {Retained} retained messages")]
    public static partial void Restored(ILogger logger, int sessions, int messages, int retained);

    [LoggerMessage(EventId = 1018, Level = LogLevel.Error, Message = "A durable write for client {ClientId} failed; the publish is not acknowledged")]
    private static partial void DurableWriteFailedCore(ILogger logger, string clientId, Exception exception);

    /// <summary>Logs with the client's values escaped (<see cref="LogSafe"/>).</summary>
    public static void DurableWriteFailed(ILogger logger, string clientId, Exception exception)
    {
        if (logger.IsEnabled(LogLevel.Error))
        {
            var safeClientId = LogSafe.Escape(clientId);
            DurableWriteFailedCore(logger, safeClientId, exception);
        }
    }

    [LoggerMessage(EventId = 1019, Level = LogLevel.Warning, Message = "Session maintenance failed")]
    public static partial void MaintenanceFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1020, Level = LogLevel.Debug, Message = "Will of {ClientId} published on {Topic}")]
    private static partial void WillPublishedCore(ILogger logger, string clientId, string topic);

    /// <summary>Logs with the client's values escaped (<see cref="LogSafe"/>).</summary>
    public static void WillPublished(ILogger logger, string clientId, string topic)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            var safeClientId = LogSafe.Escape(clientId);
            var safeTopic = LogSafe.Escape(topic);
            WillPublishedCore(logger, safeClientId, safeTopic);
        }
    }

    [LoggerMessage(EventId = 1021, Level = LogLevel.Warning, Message = "A device-ready handler failed for {DeviceId}")]
    private static partial void CommandHandlerFailedCore(ILogger logger, string deviceId, Exception exception);

    /// <summary>Logs with the client's values escaped (<see cref="LogSafe"/>).</summary>
    public static void CommandHandlerFailed(ILogger logger, string deviceId, Exception exception)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            var safeDeviceId = LogSafe.Escape(deviceId);
            CommandHandlerFailedCore(logger, safeDeviceId, exception);
        }
    }

    [LoggerMessage(EventId = 1022, Level = LogLevel.Information, Message = "Compacted the heap after a connection surge ({Connections} connections): resident memory {BeforeMiB} MiB -> {AfterMiB} MiB, paused {PauseMs:F1} ms")]
    public static partial void HeapCompacted(ILogger logger, long connections, long beforeMiB, long afterMiB, double pauseMs);

    [LoggerMessage(EventId = 1023, Level = LogLevel.Information, Message = "Compacted the heap after start (Iot:Mqtt:CompactHeapAtStart): managed heap {HeapMiB} MiB, paused {PauseMs:F1} ms")]
    public static partial void HeapCompactedAtStart(ILogger logger, long heapMiB, double pauseMs);

    [LoggerMessage(EventId = 1171, Level = LogLevel.Information, Message = "Refused {Count} connections in the last {Seconds} s: {Reasons} (each at Debug, event 1012)")]
    public static partial void ConnectionsRefused(ILogger logger, long count, double seconds, string reasons);

    [LoggerMessage(EventId = 1090, Level = LogLevel.Warning, Message = "Claim check: the payload of {ClientId}'s publish on {Topic} could not be stored; the publish is refused")]
    public static partial void ClaimCheckFailed(ILogger logger, string? clientId, string topic, Exception exception);
}
