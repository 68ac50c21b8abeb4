using Iot.Messaging;
using Microsoft.Extensions.Logging;

namespace Iot.Routing.Commands;

/// <summary>Log messages of queues and device commands (event ids 21xx).</summary>
internal static partial class CommandServiceLog
{
    [LoggerMessage(2101, LogLevel.Warning, "Command {CommandId} to device {DeviceId} dead-lettered: {Reason}")]
    private static partial void DeadLetteredCore(ILogger logger, string commandId, string deviceId, string reason);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void DeadLettered(ILogger logger, string commandId, string deviceId, string reason)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            var safeCommandId = LogSafe.Escape(commandId);
            var safeDeviceId = LogSafe.Escape(deviceId);
            var safeReason = LogSafe.Escape(reason);
            DeadLetteredCore(logger, safeCommandId, safeDeviceId, safeReason);
        }
    }

    [LoggerMessage(2102, LogLevel.Error, "Command delivery to device {DeviceId} failed; it resumes on the device's next readiness")]
    private static partial void DeliveryFailedCore(ILogger logger, string deviceId, Exception exception);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void DeliveryFailed(ILogger logger, string deviceId, Exception exception)
    {
        if (logger.IsEnabled(LogLevel.Error))
        {
            var safeDeviceId = LogSafe.Escape(deviceId);
            DeliveryFailedCore(logger, safeDeviceId, exception);
        }
    }

    [LoggerMessage(2103, LogLevel.Warning, "Sending the answer of command {CommandId} to reply queue {Queue} failed")]
    private static partial void ReplyFailedCore(ILogger logger, string commandId, string queue, Exception exception);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void ReplyFailed(ILogger logger, string commandId, string queue, Exception exception)
    {
        if (logger.IsEnabled(LogLevel.Warning))
        {
            var safeCommandId = LogSafe.Escape(commandId);
            var safeQueue = LogSafe.Escape(queue);
            ReplyFailedCore(logger, safeCommandId, safeQueue, exception);
        }
    }

    [LoggerMessage(2104, LogLevel.Information, "Device commands ready: {Pending} devices with pending commands; broker command channel {Channel}")]
    public static partial void Started(ILogger logger, int pending, string channel);

    [LoggerMessage(2105, LogLevel.Debug, "Command {CommandId} delivered to device {DeviceId} (delivery {DeliveryCount})")]
    private static partial void DeliveredCore(ILogger logger, string commandId, string deviceId, int deliveryCount);

    /// <summary>Logs with the values that come from clients escaped (<see cref="LogSafe"/>).</summary>
    public static void Delivered(ILogger logger, string commandId, string deviceId, int deliveryCount)
    {
        if (logger.IsEnabled(LogLevel.Debug))
        {
            var safeCommandId = LogSafe.Escape(commandId);
            var safeDeviceId = LogSafe.Escape(deviceId);
            DeliveredCore(logger, safeCommandId, safeDeviceId, deliveryCount);
        }
    }

    [LoggerMessage(2106, LogLevel.Warning, "Command {CommandId} to device {DeviceId} was stored without its queue message by an earlier version; linked to the message found")]
    public static partial void Linked(ILogger logger, string commandId, string deviceId);

    [LoggerMessage(2107, LogLevel.Warning,
        "Command {CommandId} to device {DeviceId} was stored without its queue message by an earlier version and its payload is lost: marked DeadLettered (IncompleteWrite); a retry with messageId {MessageId} queues it again")]
    public static partial void Incomplete(ILogger logger, string commandId, string deviceId, string messageId);
}
