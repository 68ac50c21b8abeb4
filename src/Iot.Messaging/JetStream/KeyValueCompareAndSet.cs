using System.Globalization;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using NATS.Client.KeyValueStore;

namespace Iot.Messaging.JetStream;

/// <summary>
/// Compare-and-set writes on a JetStream key-value bucket that exclude each other on a replicated bucket of
/// nats-server 2.9. A key-value update carries <c>Nats-Expected-Last-Subject-Sequence</c>; in a clustered stream
/// 2.9.10 checks that header only on the stream leader before it proposes the write, against what the leader has
/// applied so far, and not again when the write is applied (server/stream.go, <c>processJetStreamMsg</c>: "if we are
/// clustered we have prechecked seq &gt; 0"). Two updates of one key with the same expected revision that reach the
/// leader between a proposal and its apply (milliseconds normally, seconds after a leader election) therefore both
/// succeed, each with its own revision: two nodes both take one lease, one queue message is locked twice.
/// </summary>
/// <remarks>
/// The writes here add a message id made of the key and the expected revision (<c>Nats-Msg-Id</c>). Duplicate
/// detection is checked when a write is applied, in log order, on every replica: of two writes that expect the same
/// revision only the first is stored, and the second is answered as a duplicate of it, which these methods report as a
/// lost race (<see cref="NatsKVWrongLastRevisionException"/>). A write whose answer was lost (a time-out) may have been
/// applied: repeating it then reports a lost race as well (the revision moved on), so a caller that retries re-reads
/// the key to learn who wrote it. A create (expected revision 0) needs no id: the
/// server checks it when applying. The bucket's duplicate window (two minutes unless its max age is shorter) must be
/// longer than the time a write may wait for its apply, which holds for every bucket of the cluster.
/// </remarks>
public static class KeyValueCompareAndSet
{
    private const string ExpectedLastSubjectSequence = "Nats-Expected-Last-Subject-Sequence";
    private const string Operation = "KV-Operation";
    private const string Rollup = "Nats-Rollup";
    private static readonly ApiError LostRace = new() { Code = 400, ErrCode = 10071, Description = "wrong last sequence: a concurrent write expecting the same revision came first" };

    /// <summary>
    /// Writes <paramref name="value"/> under <paramref name="key"/> when its last revision is <paramref name="revision"/>
    /// (0: when the key has no message at all, not even a delete marker).
    /// </summary>
    /// <returns>The new revision; <see cref="NatsKVWrongLastRevisionException"/> when another write came first.</returns>
    public static ValueTask<NatsResult<ulong>> TryUpdateExclusiveAsync(this INatsKVStore store, string key, byte[] value, ulong revision,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        return WriteAsync(store, key, value, revision, null, cancellationToken);
    }

    /// <summary>Creates <paramref name="key"/> when it has no value (never written, deleted or purged).</summary>
    /// <returns>The new revision; <see cref="NatsKVCreateException"/> when the key has a value.</returns>
    public static async ValueTask<NatsResult<ulong>> TryCreateExclusiveAsync(this INatsKVStore store, string key, byte[] value,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        var created = await WriteAsync(store, key, value, 0, null, cancellationToken).ConfigureAwait(false);
        if (created.Success || created.Error is not NatsKVWrongLastRevisionException)
        {
            return created;
        }

        // The key has a last message: a value (taken) or a delete or purge marker, which a create may replace.
        var existing = await store.TryGetEntryAsync<byte[]>(key, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (existing.Success)
        {
            return new NatsKVCreateException();
        }

        if (existing.Error is NatsKVKeyDeletedException deleted)
        {
            var replaced = await WriteAsync(store, key, value, deleted.Revision, null, cancellationToken).ConfigureAwait(false);
            return !replaced.Success && replaced.Error is NatsKVWrongLastRevisionException ? new NatsKVCreateException() : replaced;
        }

        return existing.Error;
    }

    /// <summary>Deletes <paramref name="key"/> (a marker; with <paramref name="purge"/> its history too) when its last revision is <paramref name="revision"/>.</summary>
    /// <returns>The revision of the delete (or purge) marker; <see cref="NatsKVWrongLastRevisionException"/> when another write came first.</returns>
    public static ValueTask<NatsResult<ulong>> TryDeleteExclusiveAsync(this INatsKVStore store, string key, ulong revision, bool purge = false,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentOutOfRangeException.ThrowIfZero(revision);
        return WriteAsync(store, key, [], revision, purge ? "PURGE" : "DEL", cancellationToken);
    }

    /// <summary>The message id of a write that expects <paramref name="revision"/> of <paramref name="key"/>: the same for every competitor.</summary>
    internal static string MessageId(string key, ulong revision) => string.Create(CultureInfo.InvariantCulture, $"cas:{revision}:{key}");

    private static async ValueTask<NatsResult<ulong>> WriteAsync(INatsKVStore store, string key, byte[] value, ulong revision, string? operation,
        CancellationToken cancellationToken)
    {
        var valid = NatsKVStore.IsValidKey(key);
        if (!valid.Success)
        {
            return valid.Error;
        }

        var headers = new NatsHeaders { { ExpectedLastSubjectSequence, revision.ToString(CultureInfo.InvariantCulture) } };
        if (operation is not null)
        {
            headers.Add(Operation, operation);
            if (operation == "PURGE")
            {
                headers.Add(Rollup, "sub");
            }
        }

        var options = revision == 0 ? null : new NatsJSPubOpts { MsgId = MessageId(key, revision) };
        var published = await store.JetStreamContext.TryPublishAsync("$KV." + store.Bucket + "." + key, value, headers: headers, opts: options,
            cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!published.Success)
        {
            return published.Error;
        }

        var ack = published.Value;
        if (ack.Error is { Code: 400 } error && error.Description?.StartsWith("wrong last sequence", StringComparison.OrdinalIgnoreCase) == true)
        {
            return new NatsKVWrongLastRevisionException(error);
        }

        if (ack.Error is not null)
        {
            return new NatsJSApiException(ack.Error);
        }

        // A duplicate: another write that expected the same revision was applied first. (It may have been this writer's
        // own earlier attempt whose answer was lost; that case reports a lost race too, as a retry after the apply does.)
        return ack.Duplicate ? new NatsKVWrongLastRevisionException(LostRace) : ack.Seq;
    }
}
