using System.Globalization;
using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using NATS.Client.KeyValueStore;
using Iot.Messaging.JetStream;

namespace Iot.Broker.Cluster.Sessions;

/// <summary>
/// The JetStream side of persistent sessions (docs/adr/0009-cluster-sessions.md): the <c>iot-sessions</c> bucket of
/// <see cref="SessionRecord"/>s written by compare-and-set, and the <c>IOT_SESSIONS</c> stream that holds every
/// session's queued QoS 1/2 messages on its own subject <c>iot.sq.&lt;key&gt;</c>, bounded per subject (discard new per
/// subject) and read by direct gets: no consumer per session. Owns no state but the two handles.
/// </summary>
internal sealed class SessionStreams(ClusterConnection cluster, int maxQueuedPerSession)
{
    public const string BucketName = "iot-sessions";
    public const string StreamName = "IOT_SESSIONS";
    public const string QueueSubjectPrefix = "iot.sq.";
    public const string TakeoverSubjectPrefix = "iot.takeover.";
    private const string SubscriptionIdsHeader = "Iot-Sub-Ids";

    /// <summary>How long one append attempt waits for JetStream's acknowledgement before it is sent again.</summary>
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(200);

    private INatsKVStore? _bucket;
    private INatsJSStream? _stream;

    private INatsKVStore Bucket => _bucket ?? throw new InvalidOperationException("SessionStreams.EnsureAsync was not called");

    private INatsJSStream Stream => _stream ?? throw new InvalidOperationException("SessionStreams.EnsureAsync was not called");

    /// <summary>
    /// Creates or updates the bucket and the stream (idempotent: several nodes start at once) and says whether the bucket
    /// holds any record. A NATS cluster that is still electing its metadata leader does not answer: retried for
    /// <see cref="ClusterOptions.RequestTimeout"/> x 6, at least a minute.
    /// </summary>
    public async Task<bool> EnsureAsync(CancellationToken cancellationToken)
    {
        // At least a minute: a NATS cluster whose servers restart with the brokers (or lost one) elects its metadata
        // leader first, and until then the JetStream API does not answer.
        var deadline = DateTime.UtcNow + TimeSpan.FromTicks(Math.Max(cluster.Options.RequestTimeout.Ticks * 6, TimeSpan.FromMinutes(1).Ticks));
        while (true)
        {
            try
            {
                await CreateAsync(cancellationToken).ConfigureAwait(false);
                return await HasRecordsAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NatsException or TimeoutException && !cancellationToken.IsCancellationRequested && DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task CreateAsync(CancellationToken cancellationToken)
    {
        var replicas = cluster.Options.Replicas;
        _bucket = await cluster.KeyValue.CreateOrUpdateStoreAsync(
            new NatsKVConfig(BucketName) { History = 1, NumberOfReplicas = replicas, Storage = NatsKVStorageType.File },
            cancellationToken).ConfigureAwait(false);
        _stream = await cluster.JetStream.CreateOrUpdateStreamAsync(
            new StreamConfig(StreamName, [QueueSubjectPrefix + ">"])
            {
                NumReplicas = replicas,
                Storage = StreamConfigStorage.File,
                Retention = StreamConfigRetention.Limits,
                MaxMsgsPerSubject = maxQueuedPerSession,
                Discard = StreamConfigDiscard.New,
                DiscardNewPerSubject = true,
                AllowDirect = true,
                // Appends are retried with the same message id only within the request timeout (AppendAsync).
                DuplicateWindow = cluster.Options.RequestTimeout * 2,
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The highest revision this node has written to the bucket (a record's write is done once it is reached).</summary>
    public ProgressMark Written { get; } = new();

    /// <summary>The record of <paramref name="key"/> and its revision; null when there is none.</summary>
    public async Task<(SessionRecord Record, ulong Revision)?> TryGetAsync(string key, CancellationToken cancellationToken)
    {
        var result = await Bucket.TryGetEntryAsync<byte[]>(key, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!result.Success || result.Value.Value is not { Length: > 0 } bytes)
        {
            return null;
        }

        return (SessionRecord.FromBytes(bytes), result.Value.Revision);
    }

    /// <summary>
    /// Writes <paramref name="record"/> if the stored revision is still <paramref name="revision"/> (0: no record may
    /// exist). Returns the new revision, or null when someone else wrote first (the caller lost the session).
    /// </summary>
    public async Task<ulong?> TryWriteAsync(string key, SessionRecord record, ulong revision, CancellationToken cancellationToken)
    {
        var bytes = record.ToBytes();
        var result = revision == 0
            ? await Bucket.TryCreateExclusiveAsync(key, bytes, cancellationToken).ConfigureAwait(false)
            : await Bucket.TryUpdateExclusiveAsync(key, bytes, revision, cancellationToken).ConfigureAwait(false);
        if (result.Success)
        {
            Written.Advance(result.Value);
            return result.Value;
        }

        if (result.Error is NatsKVWrongLastRevisionException or NatsKVCreateException)
        {
            return null;
        }

        throw result.Error;
    }

    /// <summary>Deletes the record if still at <paramref name="revision"/>, and the session's queue; false when fenced.</summary>
    public async Task<bool> TryDeleteAsync(string key, ulong revision, CancellationToken cancellationToken)
    {
        var result = await Bucket.TryDeleteExclusiveAsync(key, revision, purge: true, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!result.Success)
        {
            if (result.Error is NatsKVWrongLastRevisionException)
            {
                return false;
            }

            throw result.Error;
        }

        await PurgeQueueAsync(key, cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>The revision of the bucket's latest write (by any node), read from the stream's leader.</summary>
    public async Task<ulong> LastRevisionAsync(CancellationToken cancellationToken)
    {
        var status = await Bucket.GetStatusAsync(cancellationToken).ConfigureAwait(false);
        return status.Info.State.LastSeq;
    }

    /// <summary>Whether the bucket holds any record (then a watch delivers at least one before it is caught up).</summary>
    public async Task<bool> HasRecordsAsync(CancellationToken cancellationToken)
    {
        var status = await Bucket.GetStatusAsync(cancellationToken).ConfigureAwait(false);
        return status.Info.State.Messages > 0;
    }

    /// <summary>Every record in the bucket with its key and revision, then every change, until cancelled.</summary>
    public IAsyncEnumerable<NatsKVEntry<byte[]>> WatchAsync(CancellationToken cancellationToken) =>
        Bucket.WatchAsync<byte[]>(opts: WatchHeartbeat.Options, cancellationToken: cancellationToken);

    /// <summary>
    /// Appends a message queued for the session <paramref name="key"/>; completes with its stream sequence once JetStream
    /// acknowledged it (replicated), or with 0 when the session's queue is full (the message is dropped for it).
    /// </summary>
    /// <remarks>
    /// While the stream elects a new leader (its leader was lost) a publish gets no answer: each attempt waits at most
    /// <see cref="AttemptTimeout"/> and is sent again with the same <c>Nats-Msg-Id</c> (so JetStream stores it once) until
    /// <see cref="ClusterOptions.RequestTimeout"/> has passed; then the task faults and the publisher gets no acknowledgement.
    /// The publisher's connection stays open through a leader election, so it resumes as soon as the stream does.
    /// </remarks>
    public async Task<ulong> AppendAsync(string key, BrokerMessage message, uint[]? subscriptionIds, CancellationToken cancellationToken)
    {
        NatsHeaders? headers = null;
        if (subscriptionIds is { Length: > 0 })
        {
            headers = new NatsHeaders { [SubscriptionIdsHeader] = string.Join(',', subscriptionIds) };
        }

        var subject = SessionKey.QueueSubject(key);
        var data = BrokerMessageSerializer.Serialize(message);
        var opts = new NatsJSPubOpts { MsgId = Guid.NewGuid().ToString("N") };
        var deadline = DateTime.UtcNow + cluster.Options.RequestTimeout;
        while (true)
        {
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attempt.CancelAfter(AttemptTimeout);
            NatsResult<PubAckResponse> ack;
            try
            {
                ack = await cluster.JetStream.TryPublishAsync(subject, data, opts: opts, headers: headers, cancellationToken: attempt.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && DateTime.UtcNow < deadline)
            {
                continue;
            }

            if (!ack.Success)
            {
                if (ack.Error is NatsNoRespondersException or NatsJSPublishNoResponseException or NatsNoReplyException && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(RetryPause, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                throw ack.Error;
            }

            var response = ack.Value;
            if (response.Error is { } error)
            {
                // Discard-new-per-subject: the session's queue bound (Iot:Mqtt:MaxQueuedMessages) is reached.
                if (error.Description?.Contains("maximum messages per subject", StringComparison.OrdinalIgnoreCase) == true)
                {
                    return 0;
                }

                throw new NatsJSApiException(error);
            }

            return response.Seq;
        }
    }

    /// <summary>The first message queued for <paramref name="key"/> at or after <paramref name="fromSequence"/>; null when none.</summary>
    public async Task<QueuedMessage?> ReadNextAsync(string key, ulong fromSequence, CancellationToken cancellationToken)
    {
        if (Stream is not NatsJSStream direct)
        {
            throw new InvalidOperationException("direct get needs NatsJSStream");
        }

        NatsMsg<byte[]> msg;
        try
        {
            msg = await direct.GetDirectAsync<byte[]>(
                new StreamMsgGetRequest { Seq = fromSequence, NextBySubj = SessionKey.QueueSubject(key) }, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            return null;
        }

        if (msg.Headers is not { } headers || headers.Code == 404)
        {
            return null;
        }

        if (!headers.TryGetValue("Nats-Sequence", out var seqText)
            || !ulong.TryParse(seqText.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
        {
            return null;
        }

        uint[]? ids = null;
        if (headers.TryGetValue(SubscriptionIdsHeader, out var idsText) && idsText.ToString() is { Length: > 0 } list)
        {
            ids = [.. list.Split(',').Select(static s => uint.Parse(s, CultureInfo.InvariantCulture))];
        }

        return new QueuedMessage(sequence, BrokerMessageSerializer.Deserialize(msg.Data ?? []), ids);
    }

    /// <summary>Removes one queued message (the client acknowledged it).</summary>
    public async Task DeleteMessageAsync(ulong sequence, CancellationToken cancellationToken)
    {
        try
        {
            await Stream.DeleteMessageAsync(new StreamMsgDeleteRequest { Seq = sequence, NoErase = true }, cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404 || ex.Error.ErrCode == 10057)
        {
            // Already gone (deleted by the previous owner, or purged with the session).
        }
    }

    /// <summary>Removes every message queued for <paramref name="key"/> (the session ended or started clean).</summary>
    public async Task PurgeQueueAsync(string key, CancellationToken cancellationToken) =>
        await Stream.PurgeAsync(new StreamPurgeRequest { Filter = SessionKey.QueueSubject(key) }, cancellationToken).ConfigureAwait(false);
}

/// <summary>A message read from a session's queue, with its stream sequence (the id its acknowledgement deletes).</summary>
internal sealed record QueuedMessage(ulong Sequence, BrokerMessage Message, uint[]? SubscriptionIds);
