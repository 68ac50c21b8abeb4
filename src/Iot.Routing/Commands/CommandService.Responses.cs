using Iot.Routing.Hosting;
using System.Text.Json;
using Iot.Messaging;
using Iot.Routing.Internal;
using Iot.Routing.Queues;

namespace Iot.Routing.Commands;

internal sealed partial class CommandService
{
    private const string ResponsesLevel = "/responses/";

    /// <inheritdoc/>
    public Task? Observe(IRoutedMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (TryParseSubmitTopic(message.Topic, out var target, out var name, out var requestedId))
        {
            return SubmitFromMqttAsync(message, target, name, requestedId);
        }

        if (!TryParseResponseTopic(message.Topic, out var deviceId, out var commandId))
        {
            return null;
        }

        return RecordAnswerAsync(deviceId, commandId, message.Payload.ToArray(), message.ContentType);
    }

    /// <summary>
    /// Parses <c>commands/{deviceId}/{name}</c> or <c>commands/{deviceId}/{name}/{commandId}</c>: a command sent over MQTT
    /// (by a service). With a command id the sender knows where the answer will be published
    /// (<c>devices/{deviceId}/responses/{commandId}</c>); it also serves as the duplicate-detection message id.
    /// </summary>
    internal static bool TryParseSubmitTopic(string topic, out string deviceId, out string name, out string? commandId)
    {
        deviceId = name = string.Empty;
        commandId = null;
        if (!topic.StartsWith("commands/", StringComparison.Ordinal))
        {
            return false;
        }

        var parts = topic["commands/".Length..].Split('/');
        if (parts.Length is < 2 or > 3 || !ResourceNames.IsValid(parts[0]) || !IsValidTopicLevel(parts[1])
            || (parts.Length == 3 && !ResourceNames.IsValid(parts[2])))
        {
            return false;
        }

        deviceId = parts[0];
        name = parts[1];
        commandId = parts.Length == 3 ? parts[2] : null;
        return true;
    }

    /// <summary>Enqueues a command published on <c>commands/...</c>; the publisher's PUBACK waits for it to be durable.</summary>
    private async Task SubmitFromMqttAsync(IRoutedMessage message, string deviceId, string name, string? commandId)
    {
        TimeSpan? ttl = null;
        string? messageId = null;
        string? replyQueue = null;
        string? replySessionId = null;
        foreach (var (key, value) in message.UserProperties)
        {
            if (key == "ttl" && int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds > 0)
            {
                ttl = TimeSpan.FromSeconds(seconds);
            }
            else if (key == "messageId" && value.Length > 0)
            {
                messageId = value;
            }
            else if (key == "replyQueue" && value.Length > 0)
            {
                replyQueue = value;
            }
            else if (key == "replySessionId" && value.Length > 0)
            {
                replySessionId = value;
            }
        }

        await SendAsync(new CommandRequest(deviceId, name, message.Payload.ToArray(), message.ContentType, ttl,
            messageId ?? commandId, replyQueue, replySessionId, commandId)).ConfigureAwait(false);
    }

    /// <summary>Parses <c>devices/{deviceId}/responses/{commandId}</c>.</summary>
    internal static bool TryParseResponseTopic(string topic, out string deviceId, out string commandId)
    {
        deviceId = commandId = "";
        if (!topic.StartsWith("devices/", StringComparison.Ordinal))
        {
            return false;
        }

        var rest = topic.AsSpan("devices/".Length);
        var slash = rest.IndexOf('/');
        if (slash <= 0 || !rest[slash..].StartsWith(ResponsesLevel, StringComparison.Ordinal))
        {
            return false;
        }

        var id = rest[(slash + ResponsesLevel.Length)..];
        if (id.IsEmpty || id.IndexOf('/') >= 0)
        {
            return false;
        }

        deviceId = rest[..slash].ToString();
        commandId = id.ToString();
        return true;
    }

    /// <summary>Failed when the answer is a JSON object whose <c>status</c> is "failed"/"error" or a number of 400 and above.</summary>
    internal static CommandStatus StatusOf(byte[] answer)
    {
        try
        {
            using var document = JsonDocument.Parse(answer);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("status", out var status))
            {
                return status.ValueKind switch
                {
                    JsonValueKind.String when status.GetString() is { } text
                        && (text.Equals("failed", StringComparison.OrdinalIgnoreCase) || text.Equals("error", StringComparison.OrdinalIgnoreCase)) => CommandStatus.Failed,
                    JsonValueKind.Number when status.TryGetInt32(out var code) && code >= 400 => CommandStatus.Failed,
                    _ => CommandStatus.Completed,
                };
            }
        }
        catch (JsonException)
        {
            // Not JSON: an answer all the same.
        }

        return CommandStatus.Completed;
    }

    /// <summary>
    /// Records a device's answer: the command's final status and answer and, when it has a reply queue, the reply message
    /// in one transaction (<see cref="ICommandStore.AnswerAsync"/>), which the device's PUBACK waits for. A resent answer
    /// (no PUBACK before a crash, or a device that answers twice) finds the command final and changes nothing.
    /// </summary>
    private async Task RecordAnswerAsync(string deviceId, string commandId, byte[] answer, string? contentType)
    {
        var record = await _store.GetAsync(commandId).ConfigureAwait(false);
        if (record is null || record.IsFinal || !string.Equals(record.DeviceId, deviceId, StringComparison.Ordinal))
        {
            return;
        }

        var status = StatusOf(answer);
        IPreparedReply? reply = null;
        if (record.ReplyQueue is { } replyQueue && _queues.FindQueue(replyQueue) is { } queue)
        {
            try
            {
                reply = _store.PrepareReply(replyQueue, new QueueMessage
                {
                    Body = answer,
                    MessageId = commandId + ":answer",
                    CorrelationId = commandId,
                    SessionId = queue.RequiresSession ? record.ReplySessionId ?? deviceId : null,
                    Subject = record.Name,
                    ContentType = contentType,
                    ApplicationProperties = new Dictionary<string, string>
                    {
                        ["deviceId"] = deviceId,
                        ["status"] = status.ToString(),
                    },
                });
            }
            catch (QueueException ex)
            {
                CommandServiceLog.ReplyFailed(_logger, commandId, replyQueue, ex);
            }
        }

        var now = _timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        if (!await _store.AnswerAsync(commandId, deviceId, status, answer, contentType, now, reply).ConfigureAwait(false))
        {
            return;
        }

        _crashPoints.Reached(CrashPoints.AnswerCommitted);
        _metrics.Add(RoutingCounter.CommandsAnswered);
        if (_answers.TryGetValue(commandId, out var answered))
        {
            answered.TrySetResult();
        }

        Finished(commandId);
    }
}
