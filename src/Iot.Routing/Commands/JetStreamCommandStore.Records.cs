using System.Diagnostics;
using Iot.Messaging.JetStream;
using Iot.Routing.Queues;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Commands;

internal sealed partial class JetStreamCommandStore
{
    private static readonly TimeSpan ScanTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The command that claimed a message id within the window: its record as stored, or, when the first send ended
    /// before its message or its record (a crash), with what was missing written now.
    /// </summary>
    private async Task<CommandRecord> CompleteDuplicateAsync(INatsKVStore bucket, string commandId, CommandRecord request, Func<CommandRecord, QueueMessage> messageFor)
    {
        if (await ReadAsync(bucket, commandId).ConfigureAwait(false) is { } read)
        {
            if (read.Record.SequenceNumber is not null)
            {
                return read.Record;
            }

            // A record without its message (GetOrCreateAsync, or marked incomplete by the start-up repair): its message now.
            var seq = await SendMessageAsync(read.Record, messageFor).ConfigureAwait(false);
            var completed = await ChangeAsync(bucket, commandId, current => current.SequenceNumber is not null
                ? null
                : current with
                {
                    SequenceNumber = seq, Status = CommandStatus.Queued, Reason = null, Description = null,
                    UpdatedAt = request.UpdatedAt, ExpiresAt = request.ExpiresAt,
                }, read).ConfigureAwait(false);
            return completed ?? (await ReadAsync(bucket, commandId).ConfigureAwait(false))!.Value.Record;
        }

        // Claimed, but no record yet: the first send ended after its claim (or still runs on another node). Its message
        // is sent again under the command id (the queue keeps one per id) and recorded.
        var target = request with { CommandId = commandId };
        var sent = await SendMessageAsync(target, messageFor).ConfigureAwait(false);
        return await CreateOrMergeAsync(bucket, target with { SequenceNumber = sent }).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends the command's queue message with the command id as its message id: a second send of one command (a retry
    /// after a crash) is the queue's duplicate and returns the first one's sequence number. Null when that message was
    /// completed already (its record exists then: the delivering node wrote it).
    /// </summary>
    private async Task<long?> SendMessageAsync(CommandRecord record, Func<CommandRecord, QueueMessage> messageFor)
    {
        var message = messageFor(record);
        var sent = await _queues.SendAsync(CommandService.QueueName, [new QueueMessage
        {
            Body = message.Body,
            MessageId = record.CommandId,
            SessionId = message.SessionId,
            Subject = message.Subject,
            ContentType = message.ContentType,
            CorrelationId = message.CorrelationId ?? record.CommandId,
            ReplyTo = message.ReplyTo,
            ReplyToSessionId = message.ReplyToSessionId,
            TimeToLive = message.TimeToLive,
            ScheduledEnqueueTime = message.ScheduledEnqueueTime,
            Priority = message.Priority,
            ApplicationProperties = message.ApplicationProperties,
        }]).ConfigureAwait(false);
        return sent[0].SequenceNumber > 0 ? sent[0].SequenceNumber : null;
    }

    /// <summary>
    /// Creates the record of a command whose message is written; when the delivering node recorded it from the message
    /// first (it knows neither the sender's message id nor the exact creation time), those are put right.
    /// </summary>
    private async Task<CommandRecord> CreateOrMergeAsync(INatsKVStore bucket, CommandRecord record)
    {
        var created = await bucket.TryCreateExclusiveAsync(RecordKey(record.CommandId), Encode(record)).ConfigureAwait(false);
        if (created.Success)
        {
            return record;
        }

        if (created.Error is not NatsKVCreateException)
        {
            throw created.Error;
        }

        return await ChangeAsync(bucket, record.CommandId, current => current.MessageId == record.MessageId && current.SequenceNumber is not null
            ? null
            : current with
            {
                MessageId = record.MessageId,
                SequenceNumber = current.SequenceNumber ?? record.SequenceNumber,
                CreatedAt = Math.Min(current.CreatedAt, record.CreatedAt),
            }).ConfigureAwait(false)
            ?? (await ReadAsync(bucket, record.CommandId).ConfigureAwait(false))!.Value.Record;
    }

    /// <summary>A pending record's message in the command queue (linked by command id or message id); null when there is none.</summary>
    private async Task<long?> FindMessageAsync(CommandRecord record)
    {
        long from = 0;
        long? found = null;
        while (true)
        {
            var page = await _queues.PeekAsync(CommandService.QueueName, from, 1000, deadLetterQueue: false).ConfigureAwait(false);
            foreach (var message in page)
            {
                if (string.Equals(message.SessionId, record.DeviceId, StringComparison.Ordinal)
                    && (string.Equals(message.CorrelationId, record.CommandId, StringComparison.Ordinal)
                        || string.Equals(message.MessageId, record.MessageId, StringComparison.Ordinal)
                        || string.Equals(message.MessageId, record.CommandId, StringComparison.Ordinal)))
                {
                    found = message.SequenceNumber;
                }
            }

            if (page.Count < 1000)
            {
                return found;
            }

            from = page[^1].SequenceNumber + 1;
        }
    }

    /// <summary>
    /// Applies <paramref name="change"/> to the record by compare-and-set on its revision, reading it again after a
    /// lost race; null when there is no record or <paramref name="change"/> returns null (nothing to change).
    /// </summary>
    private async Task<CommandRecord?> ChangeAsync(INatsKVStore bucket, string commandId, Func<CommandRecord, CommandRecord?> change,
        (ulong Revision, CommandRecord Record)? known = null)
    {
        var key = RecordKey(commandId);
        for (var attempt = 1; attempt <= MaxAttempts; attempt++)
        {
            var current = known ?? await ReadAsync(bucket, commandId).ConfigureAwait(false);
            known = null;
            if (current is not { } read || change(read.Record) is not { } changed)
            {
                return null;
            }

            var updated = await bucket.TryUpdateExclusiveAsync(key, Encode(changed), read.Revision).ConfigureAwait(false);
            if (updated.Success)
            {
                return changed;
            }

            if (updated.Error is not NatsKVWrongLastRevisionException)
            {
                throw updated.Error;
            }
        }

        throw new TimeoutException($"The record of command {commandId} in {BucketName} kept changing; try again.");
    }

    private async Task<(ulong Revision, CommandRecord Record)?> ReadAsync(INatsKVStore bucket, string commandId)
    {
        if (await TryGetAsync(bucket, RecordKey(commandId)).ConfigureAwait(false) is not { } entry)
        {
            return null;
        }

        if (Decode(entry.Value) is not { } record)
        {
            JetStreamCommandLog.RecordSkipped(_logger, BucketName, entry.Key);
            return null;
        }

        return (entry.Revision, record);
    }

    private static async Task<NatsKVEntry<byte[]>?> TryGetAsync(INatsKVStore bucket, string key)
    {
        NATS.Client.Core.NatsResult<NatsKVEntry<byte[]>> entry;
        try
        {
            entry = await bucket.TryGetEntryAsync<byte[]>(key).ConfigureAwait(false);
        }
        catch (NATS.Client.JetStream.NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            // The leader's get API (direct gets are off) answers a missing key with an error rather than a result.
            return null;
        }

        if (entry.Success)
        {
            return entry.Value;
        }

        return entry.Error is NatsKVKeyNotFoundException or NatsKVKeyDeletedException ? null : throw entry.Error;
    }

    /// <summary>
    /// Every record as stored now: one ordered consumer over the records' keys. Tried again while JetStream does not
    /// answer (a broker started beside a NATS server that was just killed, while the bucket's leader is elected), for at
    /// most the time opening the bucket may take.
    /// </summary>
    private async Task<List<(CommandRecord Record, ulong Revision)>> ScanAsync(INatsKVStore bucket)
    {
        var started = Stopwatch.GetTimestamp();
        for (var attempt = 1; ; attempt++)
        {
            using var timeout = new CancellationTokenSource(ScanTimeout);
            try
            {
                return await ScanOnceAsync(bucket, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when ((IsTransient(ex) || ex is OperationCanceledException) && Stopwatch.GetElapsedTime(started) < OpenTimeout)
            {
                JetStreamCommandLog.BucketRetry(_logger, BucketName, attempt, ex);
                await Task.Delay(RetryPause).ConfigureAwait(false);
            }
        }
    }

    private static async Task<List<(CommandRecord Record, ulong Revision)>> ScanOnceAsync(INatsKVStore bucket, CancellationToken cancellationToken)
    {
        var records = new List<(CommandRecord, ulong)>();
        var opts = new NatsKVWatchOpts { OnNoData = _ => ValueTask.FromResult(true) };
        await foreach (var entry in bucket.WatchAsync<byte[]>(RecordPrefix + ">", opts: opts, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (entry.Operation == NatsKVOperation.Put && Decode(entry.Value) is { } record)
            {
                records.Add((record, entry.Revision));
            }

            if (entry.Delta == 0)
            {
                break;
            }
        }

        return records;
    }
}
