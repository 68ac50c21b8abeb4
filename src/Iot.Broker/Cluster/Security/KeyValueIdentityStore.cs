using System.Diagnostics;
using System.Runtime.CompilerServices;
using Iot.Broker.Security.Identities;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using Iot.Messaging.JetStream;

namespace Iot.Broker.Cluster.Security;

/// <summary>
/// The identity store of cluster mode: one JetStream key-value bucket (<see cref="BucketName"/>) shared by every node,
/// one key per identity (<see cref="IdentityRecord.Key"/>), the value its JSON record (secrets only as hashes). Writes
/// are compare-and-set on the key's revision, so two nodes changing one identity at once cannot lose an update; every
/// node follows the bucket through <see cref="WatchAsync"/>.
/// </summary>
internal sealed class KeyValueIdentityStore : IIdentityStore
{
    /// <summary>The bucket.</summary>
    public const string BucketName = "iot-identities";

    /// <summary>How long opening the bucket keeps trying while JetStream does not answer (a NATS cluster starting up).</summary>
    internal static readonly TimeSpan OpenTimeout = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan OpenRetryDelay = TimeSpan.FromMilliseconds(250);

    private readonly INatsKVContext _kv;
    private readonly string _bucket;
    private readonly int _replicas;
    private readonly SemaphoreSlim _openGate = new(1, 1);
    private INatsKVStore? _store;

    /// <summary>Uses <paramref name="bucket"/> on <paramref name="kv"/>, created (or updated) with <paramref name="replicas"/> on first use.</summary>
    public KeyValueIdentityStore(INatsKVContext kv, int replicas, string bucket = BucketName)
    {
        ArgumentNullException.ThrowIfNull(kv);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        _kv = kv;
        _replicas = replicas;
        _bucket = bucket;
    }

    /// <inheritdoc />
    public string Location => "NATS key-value bucket " + _bucket;

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<Identity>> LoadAllAsync(ICollection<(string Id, string Reason)>? skipped, CancellationToken cancellationToken)
    {
        // Reading needs a consumer on the bucket's stream; while that stream elects a new leader (a NATS server was
        // lost, as when a broker restarts beside a dead server) its API does not answer: try again, up to OpenTimeout.
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var attempt = new List<(string Id, string Reason)>();
            try
            {
                var loaded = await LoadAllOnceAsync(attempt, cancellationToken).ConfigureAwait(false);
                foreach (var item in attempt)
                {
                    skipped?.Add(item);
                }

                return loaded;
            }
            catch (Exception ex) when (ex is NatsJSApiNoResponseException or NatsJSApiException { Error.Code: 503 } or NatsNoRespondersException
                && Stopwatch.GetElapsedTime(started) < OpenTimeout)
            {
                await Task.Delay(OpenRetryDelay, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task<IReadOnlyList<Identity>> LoadAllOnceAsync(List<(string Id, string Reason)> skipped, CancellationToken cancellationToken)
    {
        var store = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var identities = new List<Identity>();

        // The last value (or delete marker) of every key, then stop: an empty bucket reports "no data", any other ends
        // at delta 0. Deletes are not ignored: when the newest entry is a delete marker it is the one at delta 0.
        var opts = new NatsKVWatchOpts { OnNoData = static _ => ValueTask.FromResult(true) };
        await foreach (var entry in store.WatchAsync<byte[]>(opts: opts, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            if (entry.Operation == NatsKVOperation.Put)
            {
                var read = IdentityRecord.Read(entry.Key, entry.Value);
                if (read.Identity is { } identity)
                {
                    identities.Add(identity with { Revision = (long)entry.Revision });
                }
                else
                {
                    skipped.Add((read.Id, read.Error!));
                }
            }

            if (entry.Delta == 0)
            {
                break;
            }
        }

        identities.Sort(static (a, b) => string.CompareOrdinal(a.Id, b.Id));
        return identities;
    }

    /// <inheritdoc />
    public async ValueTask<Identity?> LoadAsync(string id, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        var store = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var result = await store.TryGetEntryAsync<byte[]>(IdentityRecord.Key(id), cancellationToken: cancellationToken).ConfigureAwait(false);
        if (!result.Success)
        {
            return result.Error is NatsKVKeyNotFoundException or NatsKVKeyDeletedException ? null : throw result.Error;
        }

        var entry = result.Value;
        return IdentityRecord.Read(entry.Key, entry.Value).Identity is { } identity ? identity with { Revision = (long)entry.Revision } : null;
    }

    /// <inheritdoc />
    public async ValueTask<long> UpsertAsync(Identity identity, long expectedRevision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentOutOfRangeException.ThrowIfNegative(expectedRevision);
        var store = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var key = IdentityRecord.Key(identity.Id);
        var value = IdentityRecord.Write(identity);
        var result = expectedRevision == 0
            ? await store.TryCreateExclusiveAsync(key, value, cancellationToken).ConfigureAwait(false)
            : await store.TryUpdateExclusiveAsync(key, value, (ulong)expectedRevision, cancellationToken).ConfigureAwait(false);
        if (result.Success)
        {
            return (long)result.Value;
        }

        throw result.Error is NatsKVCreateException or NatsKVWrongLastRevisionException
            ? new IdentityStoreConflictException($"The identity '{identity.Id}' changed in {_bucket} after revision {expectedRevision}.", result.Error)
            : result.Error;
    }

    /// <inheritdoc />
    public async ValueTask<bool> DeleteAsync(string id, long expectedRevision, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(id);
        ArgumentOutOfRangeException.ThrowIfNegative(expectedRevision);
        var store = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var key = IdentityRecord.Key(id);
        if (expectedRevision == 0)
        {
            var existing = await store.TryGetEntryAsync<byte[]>(key, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (!existing.Success)
            {
                return existing.Error is NatsKVKeyNotFoundException or NatsKVKeyDeletedException ? false : throw existing.Error;
            }

            expectedRevision = (long)existing.Value.Revision;
        }

        var result = await store.TryDeleteExclusiveAsync(key, (ulong)expectedRevision, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (result.Success)
        {
            return true;
        }

        throw result.Error is NatsKVWrongLastRevisionException
            ? new IdentityStoreConflictException($"The identity '{id}' changed in {_bucket} after revision {expectedRevision}.", result.Error)
            : result.Error;
    }

    /// <summary>
    /// Every change of the bucket after <paramref name="afterRevision"/> (0: the current value of every key, then every
    /// change), in revision order, until cancelled.
    /// </summary>
    public async IAsyncEnumerable<StoredIdentityChange> WatchAsync(long afterRevision, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var store = await OpenAsync(cancellationToken).ConfigureAwait(false);
        // The current value (or delete marker) of every key, then every change; what is not after afterRevision is
        // skipped here. A restarted watch thus also sees the newest state of a key changed twice while it was down, at
        // the cost of one small message per identity at each (re)start.
        await foreach (var entry in store.WatchAsync<byte[]>(opts: WatchHeartbeat.Options, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            var revision = (long)entry.Revision;
            if (revision <= afterRevision)
            {
                continue;
            }

            if (entry.Operation != NatsKVOperation.Put)
            {
                if (IdentityRecord.TryDecodeKey(entry.Key) is { } deleted)
                {
                    yield return new StoredIdentityChange(deleted, null, revision, null);
                }

                continue;
            }

            var read = IdentityRecord.Read(entry.Key, entry.Value);
            yield return new StoredIdentityChange(read.Id, read.Identity is { } identity ? identity with { Revision = revision } : null, revision, read.Error);
        }
    }

    /// <summary>Nothing to close: the connection belongs to <see cref="ClusterConnection"/>.</summary>
    public void Dispose()
    {
    }

    private async ValueTask<INatsKVStore> OpenAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _store) is { } open)
        {
            return open;
        }

        await _openGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var config = new NatsKVConfig(_bucket)
            {
                Description = "Iot identities (devices, services, dashboards): one key per identity, secrets as hashes",
                History = 1,
                NumberOfReplicas = _replicas,
                Storage = NatsKVStorageType.File,
            };

            // Idempotent: several nodes starting at once all create-or-update the same configuration. A NATS cluster
            // that is still electing its JetStream leaders answers nothing or 503 for a while: try again, up to OpenTimeout.
            var started = Stopwatch.GetTimestamp();
            while (_store is null)
            {
                try
                {
                    _store = await _kv.CreateOrUpdateStoreAsync(config, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is NatsJSApiNoResponseException or NatsJSApiException { Error.Code: 503 } or NatsNoRespondersException
                    && Stopwatch.GetElapsedTime(started) < OpenTimeout)
                {
                    await Task.Delay(OpenRetryDelay, cancellationToken).ConfigureAwait(false);
                }
            }

            return _store;
        }
        finally
        {
            _openGate.Release();
        }
    }
}

/// <summary>One change of the identity bucket: the id, its new value (null when deleted or unreadable), the revision, and why it is unreadable.</summary>
internal readonly record struct StoredIdentityChange(string Id, Identity? Identity, long Revision, string? Error)
{
    /// <summary>The identity was deleted (not merely unreadable).</summary>
    public bool Deleted => Identity is null && Error is null;
}
