using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Iot.Messaging.Telemetry;
using Iot.Messaging.Topics;
using Iot.Messaging;
using Iot.Messaging.Crossover;
using Iot.Routing.Hosting;
using Iot.Routing.Internal;
using Iot.Routing.Queues;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Iot.Routing.Commands;

/// <summary>
/// Device commands on a durable queue: one queue <c>$commands</c> whose sessions are the devices, so each device's
/// commands go out one at a time, in order. The head command is delivered through <see cref="IDeviceCommandChannel"/>
/// when the device is ready; PUBACK marks it Delivered; the device's answer completes it; no answer within
/// <see cref="CommandOptions.AnswerTimeout"/> abandons it, so it is delivered again until the maximum delivery count
/// dead-letters it.
/// </summary>
internal sealed partial class CommandService : ICommandResponseObserver, IHostedService, IAsyncDisposable
{
    /// <summary>The command queue (sessions = device ids).</summary>
    public const string QueueName = "$commands";

    private readonly IQueueStore _queues;
    private readonly ICommandStore _store;
    private readonly Func<IDeviceCommandChannel?> _channelFactory;
    private IDeviceCommandChannel? _channel;
    private readonly TimeProvider _timeProvider;
    private readonly CommandOptions _options;
    private readonly ILogger _logger;
    private readonly RoutingMetrics _metrics;
    private readonly CrashPoints _crashPoints;
    private readonly ICrossoverEvents? _crossover;
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _finished = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();

    // The channel is resolved at start, not at construction: the broker's side may itself depend on the message
    // router, which depends on this service. A null channel (no broker in the host) queues commands without delivering.
    public CommandService(IQueueStore queues, ICommandStore store, IOptions<CommandOptions> options, TimeProvider timeProvider,
        RoutingMetrics metrics, ILogger<CommandService> logger, Func<IDeviceCommandChannel?> channelFactory, CrashPoints? crashPoints = null,
        ICrossoverEvents? crossover = null)
    {
        _crashPoints = crashPoints ?? CrashPoints.None;
        _crossover = crossover;
        _metrics = metrics;
        _queues = queues;
        _store = store;
        _channelFactory = channelFactory;
        _timeProvider = timeProvider;
        _options = options.Value;
        _logger = logger;
    }

    /// <summary>Whether a device id or command name can be a topic level.</summary>
    public static bool IsValidTopicLevel(string? value) =>
        !string.IsNullOrEmpty(value) && value.Length <= 256 && value.AsSpan().IndexOfAny('/', '+', '#') < 0 && value.AsSpan().IndexOf('\0') < 0
        && TopicNames.IsValidTopicName("devices/" + value);

    /// <summary>Enqueues a command; a repeated message id within the window returns the original command.</summary>
    public async Task<(CommandRecord Command, bool Duplicate)> SendAsync(CommandRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var now = _timeProvider.GetUtcNow();
        var ttl = request.TimeToLive ?? _options.DefaultTimeToLive;
        var commandId = string.IsNullOrEmpty(request.CommandId) ? Guid.CreateVersion7(now).ToString("N") : request.CommandId;
        var record = new CommandRecord
        {
            CommandId = commandId,
            DeviceId = request.DeviceId,
            Name = request.Name,
            MessageId = string.IsNullOrEmpty(request.MessageId) ? commandId : request.MessageId,
            Status = CommandStatus.Queued,
            CreatedAt = now.ToUnixTimeMilliseconds(),
            UpdatedAt = now.ToUnixTimeMilliseconds(),
            ExpiresAt = (now + ttl).ToUnixTimeMilliseconds(),
            ReplyQueue = request.ReplyQueue,
            ReplySessionId = request.ReplySessionId,
        };
        var window = (long)_options.DuplicateDetectionWindow.TotalMilliseconds;

        // Traced: a 'command send' span below the caller's (the HTTP request's), whose context the queue message keeps
        // for the delivery to the device, maybe much later.
        using var activity = IotTracing.Enabled ? IotTracing.Source.StartActivity("command send", ActivityKind.Producer) : null;
        activity?.SetTag("iot.device.id", request.DeviceId);
        activity?.SetTag("iot.command.name", request.Name);
        activity?.SetTag("iot.command.id", commandId);
        var traceParent = Activity.Current is { } current ? IotTracing.TraceParentOf(current.Context) : null;

        // The record and its queue message in one transaction: a crash leaves both or neither, and the caller is
        // answered only after the commit, so every acknowledged command is delivered.
        var (stored, duplicate) = await _store.CreateAsync(record, window > 0 ? record.CreatedAt - window : long.MaxValue, written => new QueueMessage
        {
            Body = request.Payload,
            MessageId = written.MessageId,
            SessionId = written.DeviceId,
            Subject = written.Name,
            ContentType = request.ContentType,
            CorrelationId = written.CommandId,
            ReplyTo = written.ReplyQueue,
            ReplyToSessionId = written.ReplySessionId,
            TimeToLive = ttl,
            ApplicationProperties = traceParent is null ? null : new Dictionary<string, string>(StringComparer.Ordinal) { [IotTracing.TraceParent] = traceParent },
        }).ConfigureAwait(false);
        _crashPoints.Reached(CrashPoints.CommandCommitted);
        if (!duplicate)
        {
            _metrics.Add(RoutingCounter.CommandsSent);
        }

        if (stored.Status == CommandStatus.Queued && _channel?.IsReady(request.DeviceId) == true)
        {
            Kick(request.DeviceId);
        }

        return (stored, duplicate);
    }

    /// <summary>The command with its current status (pending commands are checked against their queue message); null when unknown.</summary>
    public async Task<CommandRecord?> GetAsync(string commandId, CancellationToken cancellationToken = default)
    {
        var record = await _store.GetAsync(commandId).ConfigureAwait(false);
        if (record is null || record.IsFinal)
        {
            return record;
        }

        var now = _timeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        var message = record.SequenceNumber is { } seq ? await _queues.GetMessageAsync(QueueName, seq, cancellationToken).ConfigureAwait(false) : null;
        if (message is { State: QueueMessageState.DeadLettered })
        {
            var expired = message.DeadLetterReason == QueueDeadLetterReasons.TtlExpired;
            return record with
            {
                Status = expired ? CommandStatus.Expired : CommandStatus.DeadLettered,
                DeliveryCount = message.DeliveryCount,
                Reason = message.DeadLetterReason,
                Description = message.DeadLetterErrorDescription,
            };
        }

        if (record.ExpiresAt <= now)
        {
            return record with { Status = CommandStatus.Expired, Reason = QueueDeadLetterReasons.TtlExpired };
        }

        return message is null ? record : record with { DeliveryCount = message.DeliveryCount };
    }

    /// <summary>Waits until the command is final or <paramref name="wait"/> passed; returns its state at that moment.</summary>
    public async Task<CommandRecord?> WaitAsync(string commandId, TimeSpan wait, CancellationToken cancellationToken = default)
    {
        var finished = _finished.GetOrAdd(commandId, static _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        var record = await GetAsync(commandId, cancellationToken).ConfigureAwait(false);
        if (record is null || record.IsFinal)
        {
            return record;
        }

        // An answer recorded here completes `finished`; one recorded on another node (a cluster) reaches the store's wait.
        using var waiting = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var elsewhere = _store.WaitForFinalAsync(commandId, waiting.Token);
        CommandRecord? seen;
        try
        {
            await Task.WhenAny(finished.Task, elsewhere).WaitAsync(wait, _timeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The wait ended first: the caller reports the command as still pending.
        }
        finally
        {
            await waiting.CancelAsync().ConfigureAwait(false);
            seen = await elsewhere.ConfigureAwait(false);
        }

        // The final record the store's watch brought is the answer: a read now could be answered by a replica that has
        // not applied it yet (a POST with wait on another node than the device's answered 504 "Delivered").
        var outcome = seen ?? await GetAsync(commandId, cancellationToken).ConfigureAwait(false);
        if (outcome is null || outcome.IsFinal)
        {
            // Answered on another node: nothing here completes the entry.
            _finished.TryRemove(new KeyValuePair<string, TaskCompletionSource>(commandId, finished));
        }

        return outcome;
    }

    /// <inheritdoc/>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _queues.CreateOrUpdateQueueAsync(new QueueProperties
        {
            Name = QueueName,
            RequiresSession = true,
            LockDuration = _options.AnswerTimeout,
            MaxDeliveryCount = _options.MaxDeliveryCount,
            DuplicateDetectionWindow = _options.DuplicateDetectionWindow,
            DeadLetteringOnMessageExpiration = true,
        }, cancellationToken).ConfigureAwait(false);
        await RepairAsync().ConfigureAwait(false);
        _channel = _channelFactory();
        if (_channel is null)
        {
            CommandServiceLog.Started(_logger, 0, "missing (commands are queued, not delivered)");
            return;
        }

        _channel.DeviceReady += Kick;
        if (_queues is IQueueArrivals arrivals)
        {
            // A shared queue store (a cluster): a command sent through another node wakes the node the device is on.
            arrivals.SessionMessageArrived += OnSessionMessageArrived;
        }

        var pending = await PendingDevicesAsync(cancellationToken).ConfigureAwait(false);
        foreach (var deviceId in pending)
        {
            if (_channel.IsReady(deviceId))
            {
                Kick(deviceId);
            }
        }

        CommandServiceLog.Started(_logger, pending.Count, "present");
    }

    /// <inheritdoc/>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_channel is not null)
        {
            _channel.DeviceReady -= Kick;
        }

        if (_queues is IQueueArrivals arrivals)
        {
            arrivals.SessionMessageArrived -= OnSessionMessageArrived;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(_pumps.Values.Select(p => p.Completion)).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        _stopping.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Links or reports the records an earlier version left without their queue message (see <see cref="ICommandStore.RepairAsync"/>).</summary>
    private async Task RepairAsync()
    {
        var (linked, incomplete) = await _store.RepairAsync(_timeProvider.GetUtcNow().ToUnixTimeMilliseconds()).ConfigureAwait(false);
        foreach (var record in linked)
        {
            CommandServiceLog.Linked(_logger, record.CommandId, record.DeviceId);
        }

        foreach (var record in incomplete)
        {
            CommandServiceLog.Incomplete(_logger, record.CommandId, record.DeviceId, LogSafe.Escape(record.MessageId));
        }
    }

    private async Task<HashSet<string>> PendingDevicesAsync(CancellationToken cancellationToken)
    {
        var devices = new HashSet<string>(StringComparer.Ordinal);
        long from = 0;
        while (true)
        {
            var page = await _queues.PeekAsync(QueueName, from, 1000, deadLetterQueue: false, cancellationToken).ConfigureAwait(false);
            foreach (var message in page)
            {
                devices.Add(message.SessionId!);
            }

            if (page.Count < 1000)
            {
                return devices;
            }

            from = page[^1].SequenceNumber + 1;
        }
    }

    private void OnSessionMessageArrived(string queue, string deviceId)
    {
        if (queue == QueueName && _channel?.IsReady(deviceId) == true)
        {
            Kick(deviceId);
        }
    }

    private void Finished(string commandId)
    {
        if (_finished.TryRemove(commandId, out var waiters))
        {
            waiters.TrySetResult();
        }
    }

    private static byte[] Utf8(string value) => Encoding.UTF8.GetBytes(value);
}
