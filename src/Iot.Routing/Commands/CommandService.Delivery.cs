using System.Collections.Concurrent;
using System.Diagnostics;
using Iot.Messaging.Crossover;
using Iot.Messaging.Telemetry;
using Iot.Routing.Hosting;
using Iot.Routing.Queues;

namespace Iot.Routing.Commands;

internal sealed partial class CommandService
{
    private readonly ConcurrentDictionary<string, DevicePump> _pumps = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _answers = new(StringComparer.Ordinal);

    /// <summary>Asks for the device's pending commands to be delivered (device ready, command sent, retry due).</summary>
    public void Kick(string deviceId)
    {
        if (_stopping.IsCancellationRequested || _channel is null)
        {
            return;
        }

        var pump = _pumps.GetOrAdd(deviceId, static _ => new DevicePump());
        lock (pump)
        {
            pump.Requested = true;
            if (pump.Running)
            {
                return;
            }

            pump.Running = true;
            pump.Completion = Task.Run(() => PumpAsync(deviceId, pump));
        }
    }

    // One pump per device at a time, so its commands go out in order, one in flight.
    private async Task PumpAsync(string deviceId, DevicePump pump)
    {
        var cancellationToken = _stopping.Token;
        while (true)
        {
            lock (pump)
            {
                if (!pump.Requested || cancellationToken.IsCancellationRequested)
                {
                    pump.Running = false;
                    return;
                }

                pump.Requested = false;
            }

            try
            {
                while (!cancellationToken.IsCancellationRequested && await DeliverNextAsync(deviceId, cancellationToken).ConfigureAwait(false))
                {
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
#pragma warning disable CA1031 // A failing delivery must not end the pump; the device's next readiness resumes it.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                CommandServiceLog.DeliveryFailed(_logger, deviceId, ex);
            }
        }
    }

    /// <summary>Delivers the device's head command and waits for its outcome; false when there is nothing more to do now.</summary>
    private async Task<bool> DeliverNextAsync(string deviceId, CancellationToken cancellationToken)
    {
        if (!_channel!.IsReady(deviceId))
        {
            return false;
        }

        var session = await _queues.AcceptSessionAsync(QueueName, deviceId, cancellationToken).ConfigureAwait(false);
        if (session is null)
        {
            // Locked by an earlier run of this process (a crash): try again once that lock has expired.
            _ = RetryAfterAsync(deviceId, _options.AnswerTimeout);
            return false;
        }

        try
        {
            var messages = await _queues.ReceiveAsync(QueueName,
                new ReceiveRequest { SessionId = deviceId, SessionLockToken = session.LockToken }, cancellationToken).ConfigureAwait(false);
            if (messages.Count > 0 && _queues is IQueueArrivals)
            {
                // A shared store (a cluster): the session lock is renewed now so that it outlives the message's lock. A
                // node the device moved to takes the session only once it expired, and then finds the message free
                // (else, taking it in between, it would find nothing to receive and not try again).
                await _queues.RenewSessionLockAsync(QueueName, deviceId, session.LockToken, cancellationToken).ConfigureAwait(false);
            }

            return messages.Count > 0 && await DeliverAsync(deviceId, messages[0], cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await _queues.ReleaseSessionAsync(QueueName, deviceId, session.LockToken, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task<bool> DeliverAsync(string deviceId, ReceivedQueueMessage message, CancellationToken cancellationToken)
    {
        var commandId = message.CorrelationId ?? message.MessageId;
        var record = await _store.GetOrCreateAsync(new CommandRecord
        {
            CommandId = commandId,
            DeviceId = deviceId,
            Name = message.Subject ?? "command",
            MessageId = message.MessageId,
            SequenceNumber = message.SequenceNumber,
            CreatedAt = message.EnqueuedTime.ToUnixTimeMilliseconds(),
            UpdatedAt = message.EnqueuedTime.ToUnixTimeMilliseconds(),
            ExpiresAt = message.ExpiresAt == DateTimeOffset.MaxValue ? long.MaxValue : message.ExpiresAt.ToUnixTimeMilliseconds(),
            ReplyQueue = message.ReplyTo,
            ReplySessionId = message.ReplyToSessionId,
        }).ConfigureAwait(false);
        if (record.IsFinal)
        {
            // Answered before its message was completed (an answer to an earlier delivery, or a crash in between).
            await _queues.CompleteAsync(QueueName, message.LockToken!, cancellationToken).ConfigureAwait(false);
            return true;
        }

        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _answers[commandId] = answered;
        try
        {
            var now = _timeProvider.GetUtcNow();
            var sentAt = _timeProvider.GetTimestamp();
            uint? expiry = message.ExpiresAt == DateTimeOffset.MaxValue ? null : (uint)Math.Clamp(Math.Ceiling((message.ExpiresAt - now).TotalSeconds), 1, uint.MaxValue);
            message.ApplicationProperties.TryGetValue(IotTracing.TraceParent, out var traceParent);
            bool acknowledged;

            // The span ends with the device's PUBACK (or its absence); the device's answer is a publish of its own.
            using (var activity = StartDeliverySpan(traceParent, record, message.DeliveryCount))
            {
                acknowledged = await _channel!.SendAsync(new DeviceCommandMessage(
                    deviceId,
                    $"devices/{deviceId}/commands/{record.Name}/{commandId}",
                    message.Body,
                    $"devices/{deviceId}/responses/{commandId}",
                    Utf8(commandId),
                    expiry,
                    message.ContentType,
                    activity is not null ? IotTracing.TraceParentOf(activity.Context) : traceParent), cancellationToken).ConfigureAwait(false);
                activity?.SetTag("iot.command.acknowledged", acknowledged);
            }

            if (!acknowledged)
            {
                // The device went away: the delivery counts, and it resumes when the device is ready again.
                await AbandonAsync(record, message, cancellationToken).ConfigureAwait(false);
                return false;
            }

            await _store.SetDeliveredAsync(commandId, message.DeliveryCount, _timeProvider.GetUtcNow().ToUnixTimeMilliseconds()).ConfigureAwait(false);
            _metrics.Add(RoutingCounter.CommandsDelivered);
            CommandServiceLog.Delivered(_logger, commandId, deviceId, message.DeliveryCount);

            // Wait for the answer while the lock holds, leaving a margin so the abandon below still owns the message.
            var remaining = message.LockedUntil!.Value - _timeProvider.GetUtcNow();
            var margin = TimeSpan.FromTicks(Math.Min(TimeSpan.TicksPerSecond, remaining.Ticks / 10));
            try
            {
                await answered.Task.WaitAsync(remaining - margin, _timeProvider, cancellationToken).ConfigureAwait(false);
                _metrics.CommandRoundTrip.Record(_timeProvider.GetElapsedTime(sentAt).TotalSeconds);
                await _queues.CompleteAsync(QueueName, message.LockToken!, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                await AbandonAsync(record, message, cancellationToken).ConfigureAwait(false);
            }

            return true;
        }
        finally
        {
            _answers.TryRemove(new KeyValuePair<string, TaskCompletionSource>(commandId, answered));
        }
    }

    private async Task AbandonAsync(CommandRecord record, ReceivedQueueMessage message, CancellationToken cancellationToken)
    {
        var result = await _queues.AbandonAsync(QueueName, message.LockToken!, cancellationToken).ConfigureAwait(false);

        // A lock lost on the last allowed delivery (a pause past the lock) means the next receive dead-letters the
        // message: record that now, as an abandon at the maximum would have.
        if (result == SettleResult.DeadLettered || (result == SettleResult.LockLost && message.DeliveryCount >= _options.MaxDeliveryCount))
        {
            await _store.SetFinalAsync(record.CommandId, CommandStatus.DeadLettered, null, null, QueueDeadLetterReasons.MaxDeliveryCountExceeded,
                $"Not answered after {message.DeliveryCount} deliveries.", message.DeliveryCount,
                _timeProvider.GetUtcNow().ToUnixTimeMilliseconds()).ConfigureAwait(false);
            _metrics.Add(RoutingCounter.CommandsDeadLettered);
            CommandServiceLog.DeadLettered(_logger, record.CommandId, record.DeviceId, QueueDeadLetterReasons.MaxDeliveryCountExceeded);
            RaiseDeadLettered(record, QueueDeadLetterReasons.MaxDeliveryCountExceeded, $"Not answered after {message.DeliveryCount} deliveries.", message.DeliveryCount);
            Finished(record.CommandId);
        }
    }

    /// <summary>
    /// <see cref="CrossoverTypes.CommandDeadLettered"/>, raised by the node whose delivery dead-lettered the command (once
    /// per command). Commands that expire unanswered are dead-lettered by the queue (<c>TtlExpired</c>) and show as the
    /// <c>$commands</c> queue's <see cref="CrossoverTypes.QueueDeadLetterMessagesAvailable"/>.
    /// </summary>
    private void RaiseDeadLettered(CommandRecord record, string reason, string description, int deliveryCount)
    {
        if (_crossover is not { IsEnabled: true } crossover)
        {
            return;
        }

        crossover.TryRaise(new CrossoverEvent(CrossoverTypes.CommandDeadLettered, "/iot/commands",
            CrossoverTypes.SubjectPrefix + "devices/" + CrossoverTypes.Level(record.DeviceId) + "/commands/" + CrossoverTypes.Level(record.CommandId),
            new System.Text.Json.Nodes.JsonObject
            {
                ["commandId"] = record.CommandId,
                ["deviceId"] = record.DeviceId,
                ["name"] = record.Name,
                ["reason"] = reason,
                ["description"] = description,
                ["deliveryCount"] = deliveryCount,
            }, _timeProvider.GetUtcNow()));
    }

    private async Task RetryAfterAsync(string deviceId, TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _timeProvider, _stopping.Token).ConfigureAwait(false);
            Kick(deviceId);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    private sealed class DevicePump
    {
        public bool Requested { get; set; }

        public bool Running { get; set; }

        public Task Completion { get; set; } = Task.CompletedTask;
    }

    /// <summary>The <c>command deliver</c> span: a child of the context the command was sent in, when it was traced.</summary>
    private static Activity? StartDeliverySpan(string? traceParent, CommandRecord record, int deliveryCount)
    {
        if (!IotTracing.Enabled)
        {
            return null;
        }

        ActivityContext.TryParse(traceParent, null, isRemote: true, out var parent);
        var activity = IotTracing.Source.StartActivity("command deliver", ActivityKind.Producer, parent);
        activity?.SetTag("iot.device.id", record.DeviceId);
        activity?.SetTag("iot.command.name", record.Name);
        activity?.SetTag("iot.command.id", record.CommandId);
        activity?.SetTag("iot.delivery.attempt", deliveryCount);
        return activity;
    }
}
