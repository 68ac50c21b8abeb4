using Microsoft.Extensions.Logging;

namespace Iot.Routing.Commands;

/// <summary>Log messages of queues and device commands (event ids 21xx).</summary>
internal static partial class CommandLog
{
    [LoggerMessage(2101, LogLevel.Warning, "Command {CommandId} to device {DeviceId} dead-lettered: {Reason}")]
    public static partial void DeadLettered(ILogger logger, string commandId, string deviceId, string reason);

    [LoggerMessage(2102, LogLevel.Error, "Command delivery to device {DeviceId} failed; it resumes on the device's next readiness")]
    public static partial void DeliveryFailed(ILogger logger, string deviceId, Exception exception);

    [LoggerMessage(2103, LogLevel.Warning, "Sending the answer of command {CommandId} to reply queue {Queue} failed")]
    public static partial void ReplyFailed(ILogger logger, string commandId, string queue, Exception exception);

    [LoggerMessage(2104, LogLevel.Information, "Device commands ready: {Pending} devices with pending commands; broker command channel {Channel}")]
    public static partial void Started(ILogger logger, int pending, string channel);

    [LoggerMessage(2105, LogLevel.Debug, "Command {CommandId} delivered to device {DeviceId} (delivery {DeliveryCount})")]
    public static partial void Delivered(ILogger logger, string commandId, string deviceId, int deliveryCount);

    [LoggerMessage(2106, LogLevel.Warning, "Command {CommandId} to device {DeviceId} was stored without its queue message by an earlier version; linked to the message found")]
    public static partial void Linked(ILogger logger, string commandId, string deviceId);

    [LoggerMessage(2107, LogLevel.Warning,
        "Command {CommandId} to device {DeviceId} was stored without its queue message by an earlier version and its payload is lost: marked DeadLettered (IncompleteWrite); a retry with messageId {MessageId} queues it again")]
    public static partial void Incomplete(ILogger logger, string commandId, string deviceId, string messageId);
}
