using NATS.Client.KeyValueStore;
using Iot.Messaging.JetStream;

namespace Iot.Streams.Log.JetStream;

/// <summary>
/// One stream's consumer groups in the shared bucket of <see cref="KeyValueConsumerGroups"/>: writes go to the bucket
/// (complete with its revision), and this node's view is updated by them and by the bucket's watch, whichever comes
/// first, never going back to an older revision. The view is guarded by one lock, never held across an await.
/// </summary>
internal sealed class KeyValueConsumerGroupStore : IConsumerGroupStore
{
    private readonly KeyValueConsumerGroups _groups;
    private readonly string _stream;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, GroupView> _view = new(StringComparer.Ordinal);

    public KeyValueConsumerGroupStore(KeyValueConsumerGroups groups, string stream)
    {
        _groups = groups;
        _stream = stream;
    }

    /// <inheritdoc/>
    public IReadOnlyCollection<string> Groups
    {
        get
        {
            lock (_lock)
            {
                return [.. _view.Where(g => g.Value.Exists).Select(g => g.Key).Order(StringComparer.Ordinal)];
            }
        }
    }

    private INatsKVStore Store => _groups.Store;

    /// <inheritdoc/>
    public async ValueTask<bool> CreateAsync(string group, CancellationToken cancellationToken = default)
    {
        Validate(group);
        using var timeout = Timeout(cancellationToken);
        var result = await JetStreamRetry.WriteAsync(ct => Store.TryCreateExclusiveAsync(KeyValueConsumerGroups.GroupKey(_stream, group), "{}"u8.ToArray(), ct), timeout.Token)
            .ConfigureAwait(false);
        if (result.Success)
        {
            ApplyGroup(group, true, (long)result.Value);
            return true;
        }

        return result.Error is NatsKVCreateException ? false : throw result.Error;
    }

    /// <inheritdoc/>
    public async ValueTask<bool> DeleteAsync(string group, CancellationToken cancellationToken = default)
    {
        using var timeout = Timeout(cancellationToken);
        var key = KeyValueConsumerGroups.GroupKey(_stream, group);
        var existing = await Store.TryGetEntryAsync<byte[]>(key, cancellationToken: timeout.Token).ConfigureAwait(false);
        if (!existing.Success)
        {
            return existing.Error is NatsKVKeyNotFoundException or NatsKVKeyDeletedException ? false : throw existing.Error;
        }

        int[] partitions;
        lock (_lock)
        {
            partitions = _view.TryGetValue(group, out var view) ? [.. view.Offsets.Keys] : [];
        }

        foreach (var partition in partitions)
        {
            await Store.DeleteAsync(KeyValueConsumerGroups.OffsetKey(_stream, group, partition), cancellationToken: timeout.Token).ConfigureAwait(false);
            ApplyOffset(group, partition, null, long.MaxValue - 1);
        }

        await Store.DeleteAsync(key, cancellationToken: timeout.Token).ConfigureAwait(false);
        lock (_lock)
        {
            _view.Remove(group);
        }

        return true;
    }

    /// <inheritdoc/>
    public CommittedOffset? GetCommitted(string group, int partition)
    {
        lock (_lock)
        {
            return _view.TryGetValue(group, out var view) && view.Offsets.TryGetValue(partition, out var slot) ? slot.Offset : null;
        }
    }

    /// <inheritdoc/>
    public async ValueTask CommitAsync(string group, int partition, CommittedOffset offset, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset.Offset);
        using var timeout = Timeout(cancellationToken);
        await EnsureGroupAsync(group, timeout.Token).ConfigureAwait(false);
        var value = KeyValueConsumerGroups.Serialize(offset);
        var result = await JetStreamRetry.WriteAsync(ct => Store.TryPutAsync(KeyValueConsumerGroups.OffsetKey(_stream, group, partition), value, cancellationToken: ct), timeout.Token)
            .ConfigureAwait(false);
        if (!result.Success)
        {
            throw result.Error;
        }

        ApplyOffset(group, partition, offset, (long)result.Value);
    }

    /// <inheritdoc/>
    public async ValueTask<RevisedOffset?> ReadCommittedAsync(string group, int partition, CancellationToken cancellationToken = default)
    {
        using var timeout = Timeout(cancellationToken);
        var result = await Store.TryGetEntryAsync<byte[]>(KeyValueConsumerGroups.OffsetKey(_stream, group, partition), cancellationToken: timeout.Token)
            .ConfigureAwait(false);
        if (!result.Success)
        {
            return result.Error is NatsKVKeyNotFoundException or NatsKVKeyDeletedException ? null : throw result.Error;
        }

        var offset = KeyValueConsumerGroups.Deserialize(result.Value.Value);
        ApplyOffset(group, partition, offset, (long)result.Value.Revision);
        return new RevisedOffset(offset, (long)result.Value.Revision);
    }

    /// <inheritdoc/>
    public async ValueTask<long?> TryCommitAsync(string group, int partition, CommittedOffset offset, long expectedRevision,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset.Offset);
        ArgumentOutOfRangeException.ThrowIfNegative(expectedRevision);
        using var timeout = Timeout(cancellationToken);
        await EnsureGroupAsync(group, timeout.Token).ConfigureAwait(false);
        var key = KeyValueConsumerGroups.OffsetKey(_stream, group, partition);
        var value = KeyValueConsumerGroups.Serialize(offset);
        var result = await JetStreamRetry.WriteAsync(ct => expectedRevision == 0
            ? Store.TryCreateExclusiveAsync(key, value, ct)
            : Store.TryUpdateExclusiveAsync(key, value, (ulong)expectedRevision, ct), timeout.Token).ConfigureAwait(false);
        if (result.Success)
        {
            ApplyOffset(group, partition, offset, (long)result.Value);
            return (long)result.Value;
        }

        return result.Error is NatsKVCreateException or NatsKVWrongLastRevisionException ? null : throw result.Error;
    }

    /// <summary>A group key's change (from this node's write or the watch).</summary>
    internal void ApplyGroup(string group, bool exists, long revision)
    {
        lock (_lock)
        {
            if (!_view.TryGetValue(group, out var view))
            {
                _view[group] = view = new GroupView();
            }

            if (revision > view.Revision)
            {
                view.Revision = revision;
                view.Exists = exists;
            }
        }
    }

    /// <summary>An offset key's change (null: deleted), applied when newer than what this node has.</summary>
    internal void ApplyOffset(string group, int partition, CommittedOffset? offset, long revision)
    {
        lock (_lock)
        {
            if (!_view.TryGetValue(group, out var view))
            {
                _view[group] = view = new GroupView();
            }

            if (view.Offsets.TryGetValue(partition, out var slot) && slot.Revision >= revision)
            {
                return;
            }

            if (offset is null)
            {
                view.Offsets.Remove(partition);
            }
            else
            {
                view.Offsets[partition] = new Slot(offset, revision);
            }
        }
    }

    private async ValueTask EnsureGroupAsync(string group, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (_view.TryGetValue(group, out var view) && view.Exists)
            {
                return;
            }
        }

        Validate(group);
        var result = await JetStreamRetry.WriteAsync(ct => Store.TryCreateExclusiveAsync(KeyValueConsumerGroups.GroupKey(_stream, group), "{}"u8.ToArray(), ct),
            cancellationToken).ConfigureAwait(false);
        if (result.Success)
        {
            ApplyGroup(group, true, (long)result.Value);
        }
        else if (result.Error is not NatsKVCreateException)
        {
            throw result.Error;
        }
    }

    private CancellationTokenSource Timeout(CancellationToken cancellationToken)
    {
        var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_groups.RequestTimeout);
        return timeout;
    }

    private static void Validate(string group)
    {
        if (!StreamDefinition.IsValidName(group))
        {
            throw new ArgumentException(StreamDefinition.Validate(group, "consumer group name"), nameof(group));
        }
    }

    private sealed class GroupView
    {
        public bool Exists { get; set; }

        public long Revision { get; set; }

        public Dictionary<int, Slot> Offsets { get; } = [];
    }

    private readonly record struct Slot(CommittedOffset? Offset, long Revision);
}
