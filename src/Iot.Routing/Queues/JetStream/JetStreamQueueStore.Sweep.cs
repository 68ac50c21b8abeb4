using NATS.Client.JetStream.Models;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Queues.JetStream;

internal sealed partial class JetStreamQueueStore
{
    /// <summary>
    /// How much longer than a queue's duplicate detection window the sweep keeps what completed messages leave behind:
    /// covers clocks set differently on the brokers and the NATS servers.
    /// </summary>
    public static readonly TimeSpan SweepMargin = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Removes from every queue's bucket what is no longer needed: the delete marker of a message completed (or
    /// dropped) longer ago than the queue's duplicate detection window plus <see cref="SweepMargin"/>, and the
    /// message-id record (<c>d.</c>) written longer ago than that. A marker has to stay for the window, because a send
    /// that repeats a completed message's id finds the completion by it; after the window the id is new again. Each key
    /// is purged up to the revision seen, so a write that arrives meanwhile stays. One pass reads the metadata of every
    /// key of every queue (one ordered consumer per bucket) and purges each removable key (one JetStream request each):
    /// run by one node at a time.
    /// </summary>
    /// <returns>The markers and message-id records purged.</returns>
    public async Task<(int Markers, int MessageIds)> SweepAsync(CancellationToken cancellationToken)
    {
        await StartAsync().ConfigureAwait(false);
        var markers = 0;
        var messageIds = 0;
        foreach (var index in _queues.Values)
        {
            var before = _timeProvider.GetUtcNow() - index.Properties.DuplicateDetectionWindow - SweepMargin;
            var stale = new List<(string Key, ulong Revision, bool Marker)>();
            var opts = new NatsKVWatchOpts { MetaOnly = true, OnNoData = _ => ValueTask.FromResult(true) };
            await foreach (var entry in index.Bucket.WatchAsync<byte[]>(opts: opts, cancellationToken: cancellationToken).ConfigureAwait(false))
            {
                var marker = entry.Operation is NatsKVOperation.Del or NatsKVOperation.Purge;
                var removable = entry.Created < before
                    && ((marker && entry.Key.StartsWith(QueueKeys.MessagePrefix, StringComparison.Ordinal))
                        || entry.Key.StartsWith(QueueKeys.DuplicatePrefix, StringComparison.Ordinal));
                if (removable)
                {
                    stale.Add((entry.Key, entry.Revision, marker));
                }

                if (entry.Delta == 0)
                {
                    break;
                }
            }

            foreach (var (key, revision, marker) in stale)
            {
                // Up to the revision seen: a message id sent again meanwhile keeps its new record.
                var purged = await index.Bucket.JetStreamContext.PurgeStreamAsync("KV_" + index.Bucket.Bucket,
                    new StreamPurgeRequest { Filter = "$KV." + index.Bucket.Bucket + "." + key, Seq = revision + 1 }, cancellationToken).ConfigureAwait(false);
                if (purged.Success && purged.Purged > 0)
                {
                    if (key.StartsWith(QueueKeys.DuplicatePrefix, StringComparison.Ordinal))
                    {
                        messageIds++;
                    }
                    else
                    {
                        markers += marker ? 1 : 0;
                    }
                }
            }
        }

        if (markers + messageIds > 0)
        {
            JetStreamQueueLog.Swept(_logger, markers, messageIds);
        }

        return (markers, messageIds);
    }
}
