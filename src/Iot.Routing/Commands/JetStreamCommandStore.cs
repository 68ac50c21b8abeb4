using System.Text;
using System.Text.Json;
using Iot.Messaging.JetStream;
using Iot.Routing.Internal;
using Iot.Routing.Queues;
using Iot.Routing.Queues.JetStream;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Commands;

/// <summary>
/// <see cref="ICommandStore"/> of a cluster (docs/cluster.md, "Device commands (part 2)"): the records in the key-value
/// bucket <c>{prefix}-commands</c> (<c>c.&lt;commandId&gt;</c>, JSON), the message ids of the duplicate window there too
/// (<c>d.&lt;deviceId&gt;.&lt;messageId&gt;</c>), and the queue messages in the shared JetStream queue store's
/// <see cref="CommandService.QueueName"/> queue.
/// </summary>
/// <remarks>
/// JetStream 2.9 has no transaction across a record and a queue message, so the writes go in an order where a crash
/// between two of them loses nothing acknowledged and leaves nothing undeliverable: a new command claims its message id
/// (<c>d.</c>), then sends its queue message (message id = command id, so the queue's own duplicate detection makes a
/// resend idempotent), then creates its record with the sequence number. A crash after the message leaves a message
/// without record, which the delivering node records from the message (<see cref="GetOrCreateAsync"/>); a retry of the
/// send finds the claimed id and completes what is missing. An answer sends its reply first (message id
/// <c>{commandId}:answer</c>) and then takes the record from pending to final by compare-and-set on its revision, so a
/// resent or concurrent answer on any node writes no second outcome. Every change of a record is one compare-and-set.
/// </remarks>
internal sealed partial class JetStreamCommandStore : ICommandStore
{
    /// <summary>The default prefix of the bucket's name (<c>iot-commands</c>).</summary>
    public const string DefaultPrefix = "iot";

    private const string RecordPrefix = "c.";
    private const string MessageIdPrefix = "d.";
    private const int MaxAttempts = 20;

    private static readonly TimeSpan OpenTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(250);

    private readonly INatsKVContext _kv;
    private readonly JetStreamQueueStore _queues;
    private readonly int _replicas;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly Lazy<Task<INatsKVStore>> _bucket;

    /// <summary>Uses the bucket <c>{prefix}-commands</c> on <paramref name="kv"/>, created with <paramref name="replicas"/> when missing.</summary>
    /// <param name="kv">The key-value context of this node's NATS connection.</param>
    /// <param name="queues">The shared queue store that holds the command queue and the reply queues.</param>
    /// <param name="replicas">Replicas of the bucket.</param>
    /// <param name="timeProvider">The clock of the records' times.</param>
    /// <param name="logger">The log (event ids 2960-2979).</param>
    /// <param name="prefix">The prefix of the bucket's name (tests use a fresh one each).</param>
    public JetStreamCommandStore(INatsKVContext kv, JetStreamQueueStore queues, int replicas, TimeProvider timeProvider,
        ILogger<JetStreamCommandStore>? logger = null, string prefix = DefaultPrefix)
    {
        ArgumentNullException.ThrowIfNull(kv);
        ArgumentNullException.ThrowIfNull(queues);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        _kv = kv;
        _queues = queues;
        _replicas = replicas;
        _timeProvider = timeProvider;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        BucketName = prefix + "-commands";
        _bucket = new Lazy<Task<INatsKVStore>>(OpenAsync, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>The bucket of the records.</summary>
    public string BucketName { get; }

    /// <inheritdoc/>
    /// <remarks>
    /// A new command: a read and a create of its <c>d.</c> key, the queue send (a read and a create of the queue's
    /// message-id key, and the message's create), and the record's create: 4 writes, each acknowledged by a majority.
    /// </remarks>
    public async Task<(CommandRecord Record, bool Duplicate)> CreateAsync(CommandRecord record, long duplicatesSince, Func<CommandRecord, QueueMessage> messageFor)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(messageFor);
        var bucket = await BucketAsync().ConfigureAwait(false);
        var idKey = MessageIdKey(record.DeviceId, record.MessageId);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var seen = await TryGetAsync(bucket, idKey).ConfigureAwait(false);
            var claim = seen is { } entry ? MessageIdClaim.Decode(entry.Value) : null;
            if (claim is not null && claim.CreatedAt > duplicatesSince)
            {
                // A duplicate: the command that claimed the id, completed when its first send ended early (a crash).
                return (await CompleteDuplicateAsync(bucket, claim.CommandId, record, messageFor).ConfigureAwait(false), true);
            }

            var value = new MessageIdClaim(record.CommandId, record.CreatedAt).Encode();
            var claimed = seen is { } stale
                ? await bucket.TryUpdateExclusiveAsync(idKey, value, stale.Revision).ConfigureAwait(false)
                : await bucket.TryCreateExclusiveAsync(idKey, value).ConfigureAwait(false);
            if (!claimed.Success)
            {
                if (claimed.Error is NatsKVCreateException or NatsKVWrongLastRevisionException)
                {
                    continue;
                }

                throw claimed.Error;
            }

            var seq = await SendMessageAsync(record, messageFor).ConfigureAwait(false);
            var created = record with { SequenceNumber = seq };
            var stored = await CreateOrMergeAsync(bucket, created).ConfigureAwait(false);
            return (stored, false);
        }

        throw new TimeoutException($"The message id record of command {record.CommandId} in {BucketName} did not settle; send again with the same messageId.");
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Reads every record once (one ordered consumer over <c>c.&gt;</c>). Only records written by
    /// <see cref="GetOrCreateAsync"/> without a sequence number can lack their message here; this store writes a new
    /// command's record after its message.
    /// </remarks>
    public async Task<(List<CommandRecord> Linked, List<CommandRecord> Incomplete)> RepairAsync(long now)
    {
        var bucket = await BucketAsync().ConfigureAwait(false);
        var linked = new List<CommandRecord>();
        var incomplete = new List<CommandRecord>();
        foreach (var (record, _) in await ScanAsync(bucket).ConfigureAwait(false))
        {
            if (record.SequenceNumber is not null || record.IsFinal)
            {
                continue;
            }

            var seq = await FindMessageAsync(record).ConfigureAwait(false);
            var changed = await ChangeAsync(bucket, record.CommandId, current => current.SequenceNumber is not null || current.IsFinal
                ? null
                : seq is { } found
                    ? current with { SequenceNumber = found }
                    : current with
                    {
                        Status = CommandStatus.DeadLettered,
                        Reason = ICommandStore.IncompleteReason,
                        Description = "The command's message was not stored (a crash while the command was accepted): send it again with the same messageId.",
                        UpdatedAt = now,
                    }).ConfigureAwait(false);
            if (changed is not null)
            {
                (seq is null ? incomplete : linked).Add(changed);
            }
        }

        return (linked, incomplete);
    }

    /// <inheritdoc/>
    public async Task<CommandRecord> GetOrCreateAsync(CommandRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var bucket = await BucketAsync().ConfigureAwait(false);
        var created = await bucket.TryCreateExclusiveAsync(RecordKey(record.CommandId), Encode(record)).ConfigureAwait(false);
        if (!created.Success)
        {
            if (created.Error is not NatsKVCreateException)
            {
                throw created.Error;
            }

            return (await ReadAsync(bucket, record.CommandId).ConfigureAwait(false))?.Record
                ?? throw new InvalidOperationException($"The record of command {record.CommandId} exists and cannot be read.");
        }

        // Its message id now names it, so a retry with that id finds it (a message id claimed already stays).
        var claim = await bucket.TryCreateExclusiveAsync(MessageIdKey(record.DeviceId, record.MessageId), new MessageIdClaim(record.CommandId, record.CreatedAt).Encode())
            .ConfigureAwait(false);
        if (!claim.Success && claim.Error is not NatsKVCreateException)
        {
            throw claim.Error;
        }

        return record;
    }

    /// <inheritdoc/>
    public async Task<CommandRecord?> GetAsync(string commandId) =>
        (await ReadAsync(await BucketAsync().ConfigureAwait(false), commandId).ConfigureAwait(false))?.Record;

    /// <inheritdoc/>
    public async Task<bool> SetDeliveredAsync(string commandId, int deliveryCount, long now) =>
        await ChangeAsync(await BucketAsync().ConfigureAwait(false), commandId, current => current.IsFinal
            ? null
            : current with { Status = CommandStatus.Delivered, DeliveryCount = deliveryCount, UpdatedAt = now }).ConfigureAwait(false) is not null;

    /// <inheritdoc/>
    public async Task<bool> SetFinalAsync(string commandId, CommandStatus status, byte[]? answer, string? contentType, string? reason, string? description,
        int? deliveryCount, long now) =>
        await ChangeAsync(await BucketAsync().ConfigureAwait(false), commandId, current => current.IsFinal
            ? null
            : current with
            {
                Status = status, Answer = answer, AnswerContentType = contentType, Reason = reason, Description = description,
                DeliveryCount = deliveryCount ?? current.DeliveryCount, UpdatedAt = now,
            }).ConfigureAwait(false) is not null;

    /// <inheritdoc/>
    public IPreparedReply PrepareReply(string queue, QueueMessage reply)
    {
        ArgumentNullException.ThrowIfNull(reply);
        var properties = _queues.FindQueue(queue) ?? throw new QueueException(QueueError.NotFound, $"There is no queue named '{queue}'.");
        _ = SendRules.For(queue, properties, reply, _timeProvider.GetUtcNow().ToUnixTimeMilliseconds());
        return new PreparedReply(queue, reply);
    }

    /// <inheritdoc/>
    /// <remarks>
    /// A read of the record and of the command's queue message, the reply's send, then one compare-and-set of the record.
    /// The reply goes first: a crash between the two makes the device resend its answer, which sends the reply again
    /// (the reply queue's duplicate detection drops it within its window) and records the answer. Two answers that read
    /// the record pending at the same moment may both send a reply; one of them records its outcome.
    /// </remarks>
    public async Task<bool> AnswerAsync(string commandId, string deviceId, CommandStatus status, byte[] answer, string? contentType, long now,
        IPreparedReply? reply)
    {
        var bucket = await BucketAsync().ConfigureAwait(false);
        if (await ReadAsync(bucket, commandId).ConfigureAwait(false) is not { } read || read.Record.IsFinal
            || !string.Equals(read.Record.DeviceId, deviceId, StringComparison.Ordinal))
        {
            return false;
        }

        // The delivery count is that of the command's queue message, still present: it is completed after the answer.
        var message = read.Record.SequenceNumber is { } seq
            ? await _queues.GetMessageAsync(CommandService.QueueName, seq).ConfigureAwait(false)
            : null;
        if (reply is PreparedReply prepared)
        {
            await _queues.SendAsync(prepared.Queue, [prepared.Message]).ConfigureAwait(false);
        }

        return await ChangeAsync(bucket, commandId, current => current.IsFinal
            ? null
            : current with
            {
                Status = status, Answer = answer, AnswerContentType = contentType, Reason = null, Description = null,
                DeliveryCount = message?.DeliveryCount ?? current.DeliveryCount, UpdatedAt = now,
            }, read).ConfigureAwait(false) is not null;
    }

    /// <inheritdoc/>
    /// <remarks>One key-value watch of the record's key (an ordered consumer) for as long as the wait lasts.</remarks>
    public async Task<CommandRecord?> WaitForFinalAsync(string commandId, CancellationToken cancellationToken)
    {
        INatsKVStore bucket;
        try
        {
            bucket = await BucketAsync().ConfigureAwait(false);
        }
#pragma warning disable CA1031 // The wait never fails; the bucket's failure surfaces in every other call.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            JetStreamCommandLog.WatchFailed(_logger, BucketName, ex);
            try
            {
                await Task.Delay(Timeout.InfiniteTimeSpan, _timeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The wait ended.
            }

            return null;
        }

        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var entry in bucket.WatchAsync<byte[]>(RecordKey(commandId), opts: WatchHeartbeat.Options, cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    if (entry.Operation == NatsKVOperation.Put && Decode(entry.Value) is { IsFinal: true } final)
                    {
                        return final;
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return null;
            }
#pragma warning disable CA1031 // The wait never fails (see the interface): a failed watch starts again.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                JetStreamCommandLog.WatchFailed(_logger, BucketName, ex);
                try
                {
                    await Task.Delay(RetryPause, _timeProvider, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return null;
                }
            }
        }

        return null;
    }

    private static string RecordKey(string commandId) => RecordPrefix + EncodeKey(commandId);

    private static string MessageIdKey(string deviceId, string messageId) => MessageIdPrefix + EncodeKey(deviceId) + "." + EncodeKey(messageId);

    /// <summary>Base64url without padding: any id is a valid key part (<c>A-Z a-z 0-9 - _</c>).</summary>
    private static string EncodeKey(string value) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes(value)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] Encode(CommandRecord record) => JsonSerializer.SerializeToUtf8Bytes(record, RoutingJson.Options);

    private static CommandRecord? Decode(byte[]? value)
    {
        try
        {
            return value is null ? null : JsonSerializer.Deserialize<CommandRecord>(value, RoutingJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private sealed class PreparedReply(string queue, QueueMessage message) : IPreparedReply
    {
        public string Queue => queue;

        public QueueMessage Message => message;
    }

    /// <summary>What a <c>d.</c> key holds: the command that claimed the message id, and when.</summary>
    private sealed record MessageIdClaim(string CommandId, long CreatedAt)
    {
        public byte[] Encode() => JsonSerializer.SerializeToUtf8Bytes(this, RoutingJson.Options);

        public static MessageIdClaim? Decode(byte[]? value)
        {
            try
            {
                return value is null ? null : JsonSerializer.Deserialize<MessageIdClaim>(value, RoutingJson.Options);
            }
            catch (JsonException)
            {
                return null;
            }
        }
    }
}
