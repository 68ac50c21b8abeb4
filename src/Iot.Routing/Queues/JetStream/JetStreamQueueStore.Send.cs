using NATS.Client.KeyValueStore;
using Iot.Messaging.JetStream;

namespace Iot.Routing.Queues.JetStream;

internal sealed partial class JetStreamQueueStore
{
    /// <inheritdoc/>
    /// <remarks>
    /// One key-value create per message (its revision is the sequence number), in order; a message id the sender chose
    /// costs a read and a create (or compare-and-set) of its <c>d.</c> key first. The messages are validated before the
    /// first write; a failure after some were written leaves those (each is complete on its own) and throws.
    /// </remarks>
    public async Task<IReadOnlyList<SendResult>> SendAsync(string queue, IReadOnlyList<QueueMessage> messages, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var index = await IndexAsync(queue).ConfigureAwait(false);
        var properties = index.Properties;
        var now = Now();
        var prepared = new List<(MessageHeader Header, byte[] Body, bool Tracked)>(messages.Count);
        foreach (var message in messages)
        {
            ArgumentNullException.ThrowIfNull(message);
            var rules = SendRules.For(queue, properties, message, now);
            var header = new MessageHeader
            {
                MessageId = rules.MessageId,
                SessionId = rules.SessionId,
                Priority = message.Priority,
                EnqueuedAt = now,
                VisibleAt = rules.VisibleAt,
                ExpiresAt = rules.ExpiresAt,
                Subject = message.Subject,
                ContentType = message.ContentType,
                CorrelationId = message.CorrelationId,
                ReplyTo = message.ReplyTo,
                ReplyToSessionId = message.ReplyToSessionId,
                Properties = message.ApplicationProperties is { Count: > 0 } applicationProperties ? new(applicationProperties, StringComparer.Ordinal) : null,
            };
            prepared.Add((header, message.Body.ToArray(), rules.Tracked));
        }

        var window = (long)properties.DuplicateDetectionWindow.TotalMilliseconds;
        var results = new SendResult[prepared.Count];
        for (var i = 0; i < prepared.Count; i++)
        {
            var (header, body, tracked) = prepared[i];
            results[i] = tracked && window > 0
                ? await SendTrackedAsync(index, header, body, now, window, cancellationToken).ConfigureAwait(false)
                : new SendResult(await WriteNewAsync(index, QueueKeys.NewMessageKey(), header, body, cancellationToken).ConfigureAwait(false), Duplicate: false);
        }

        // Wakes this node's long-polling receivers; other nodes' wake when their watch brings the new keys.
        index.NotifyArrival();
        return results;
    }

    /// <inheritdoc/>
    public async Task<bool> CancelScheduledMessageAsync(string queue, long sequenceNumber, CancellationToken cancellationToken = default)
    {
        var index = await IndexAsync(queue).ConfigureAwait(false);
        var now = Now();
        var message = index.FindBySeq(sequenceNumber);
        for (var attempt = 0; message is not null && attempt < 3; attempt++)
        {
            if (message.Header.State != (int)QueueMessageState.Active || message.Header.VisibleAt <= now)
            {
                return false;
            }

            if (await TryDeleteAsync(index, message, cancellationToken).ConfigureAwait(false))
            {
                return true;
            }

            message = await RefreshAsync(index, message.Key, cancellationToken).ConfigureAwait(false);
        }

        return false;
    }

    /// <summary>
    /// Sends a message whose id the sender chose: the <c>d.</c> key of the id is written first (create, or
    /// compare-and-set once the window passed) and names the message key; a second send of the id within the window
    /// finds it and is a duplicate. When the first send ended between the two writes (a crash), the retry finds no
    /// message under the named key and writes it there.
    /// </summary>
    private static async Task<SendResult> SendTrackedAsync(QueueIndex index, MessageHeader header, byte[] body, long now, long window, CancellationToken cancellationToken)
    {
        var key = QueueKeys.DuplicateKey(header.MessageId);
        for (var attempt = 1; ; attempt++)
        {
            if (attempt > 20)
            {
                // Reads keep disagreeing with the writes (a replica far behind): the caller gets an error and sends again.
                throw new TimeoutException($"The message id's record in {index.Bucket.Bucket} did not settle; the send may be retried with the same message id.");
            }

            var seen = await index.Bucket.TryGetEntryAsync<byte[]>(key, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (!seen.Success && seen.Error is not (NatsKVKeyNotFoundException or NatsKVKeyDeletedException))
            {
                throw seen.Error;
            }

            if (seen.Success && DuplicateRecord.Decode(seen.Value.Value) is { } record && now - record.SeenAt < window)
            {
                if (index.Find(record.Key) is { } known)
                {
                    return new SendResult(known.Seq, Duplicate: true);
                }

                var stored = await index.Bucket.TryGetEntryAsync<byte[]>(record.Key, cancellationToken: cancellationToken).ConfigureAwait(false);
                if (stored.Success)
                {
                    // The first send stored it, perhaps on a node that died before it answered, and this node's watch
                    // may not have brought it yet (after a NATS server died, for about two heartbeats and a new
                    // consumer): into the index now, so that a receive here offers it at once. Before, this answered
                    // the resend while no receive here could see the message until the watch caught up.
                    index.Apply(record.Key, stored.Value.Revision, NatsKVOperation.Put, stored.Value.Value, fromWatch: false);
                    var decoded = MessageHeader.Decode(stored.Value.Value);
                    return new SendResult(decoded?.Header.Seq is > 0 and var seq ? seq : (long)stored.Value.Revision, Duplicate: true);
                }

                if (stored.Error is NatsKVKeyDeletedException)
                {
                    // Completed (or dropped) within the window.
                    return new SendResult(0, Duplicate: true);
                }

                if (stored.Error is not NatsKVKeyNotFoundException)
                {
                    throw stored.Error;
                }

                var written = await TryWriteNewAsync(index, record.Key, header, body, cancellationToken).ConfigureAwait(false);
                if (written > 0)
                {
                    return new SendResult(written, Duplicate: false);
                }

                continue;
            }

            var claim = new DuplicateRecord(QueueKeys.NewMessageKey(), now).Encode();
            var claimed = seen.Success
                ? await index.Bucket.TryUpdateExclusiveAsync(key, claim, seen.Value.Revision, cancellationToken).ConfigureAwait(false)
                : await index.Bucket.TryCreateExclusiveAsync(key, claim, cancellationToken).ConfigureAwait(false);
            if (claimed.Success)
            {
                var messageKey = DuplicateRecord.Decode(claim)!.Key;
                var written = await TryWriteNewAsync(index, messageKey, header, body, cancellationToken).ConfigureAwait(false);
                if (written > 0)
                {
                    return new SendResult(written, Duplicate: false);
                }

                // A concurrent send of the same id read this claim before its message was here and wrote the message
                // itself (the path that completes a claim left by a crash): that send stored it, this one is its
                // duplicate; the next round reads what it wrote.
                continue;
            }

            if (claimed.Error is not (NatsKVCreateException or NatsKVWrongLastRevisionException))
            {
                throw claimed.Error;
            }

            // Another node sent the same id at the same moment: read what it wrote.
        }
    }

    private static async Task<long> WriteNewAsync(QueueIndex index, string key, MessageHeader header, byte[] body, CancellationToken cancellationToken)
    {
        var seq = await TryWriteNewAsync(index, key, header, body, cancellationToken).ConfigureAwait(false);
        return seq > 0 ? seq : throw new InvalidOperationException($"The message key {key} of {index.Bucket.Bucket} exists already.");
    }

    /// <summary>
    /// Creates a message key that never held anything; its revision is the sequence number; 0 when the key has any
    /// entry, also a delete marker. (The client's create would write over the marker of a completed message: a retried
    /// send that read a lagging replica would bring a completed message back.)
    /// </summary>
    private static async Task<long> TryWriteNewAsync(QueueIndex index, string key, MessageHeader header, byte[] body, CancellationToken cancellationToken)
    {
        var created = await index.Bucket.TryUpdateExclusiveAsync(key, header.Encode(body), revision: 0, cancellationToken).ConfigureAwait(false);
        if (!created.Success)
        {
            return created.Error is NatsKVWrongLastRevisionException or NatsKVCreateException ? 0 : throw created.Error;
        }

        var seq = (long)created.Value;
        index.Written(key, created.Value, seq, header, body);
        return seq;
    }
}
