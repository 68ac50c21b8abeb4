using System.Runtime.CompilerServices;
using System.Text;
using NATS.Client.KeyValueStore;
using Iot.Messaging.JetStream;

namespace Iot.Routing.Internal.JetStream;

internal sealed partial class JetStreamRoutingStore
{
    /// <summary>
    /// The definitions as loaded when the store opened, with this node's writes since: in cluster mode the tables
    /// follow the other nodes' writes through <see cref="WatchDefinitionsAsync"/>, not through this. Empty before
    /// <see cref="OpenAsync"/> completed.
    /// </summary>
    public IReadOnlyList<(string Name, string Definition)> ReadDefinitions(string table)
    {
        CheckTable(table);
        return _definitions.Read(table);
    }

    /// <inheritdoc/>
    public async Task<int> SaveDefinitionAsync(string table, string name, string definition)
    {
        CheckTable(table);
        ArgumentNullException.ThrowIfNull(definition);
        await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        var key = DefinitionKey(table, name);
        var revision = await _buckets.Definitions.PutAsync(key, Encoding.UTF8.GetBytes(definition)).ConfigureAwait(false);
        _definitions.Wrote(key, revision);
        _definitions.Set(table, name, definition);

        return 1;
    }

    /// <inheritdoc/>
    public async Task<int> DeleteDefinitionAsync(string table, string name)
    {
        CheckTable(table);
        await OpenAsync(CancellationToken.None).ConfigureAwait(false);
        var key = DefinitionKey(table, name);
        int deleted = 0;
        var existing = await _buckets.Definitions.TryGetEntryAsync<byte[]>(key).ConfigureAwait(false);
        if (existing.Success)
        {
            // Compared with the revision read, so a definition saved again in between (on any node) is not lost.
            var revision = existing.Value.Revision;
            var result = await _buckets.Definitions.TryDeleteExclusiveAsync(key, revision).ConfigureAwait(false);
            if (!result.Success)
            {
                throw result.Error;
            }

            _definitions.Wrote(key, revision);
            deleted = 1;
        }
        else if (existing.Error is not (NatsKVKeyNotFoundException or NatsKVKeyDeletedException))
        {
            throw existing.Error;
        }

        _definitions.Remove(table, name);

        if (table == "subscriptions")
        {
            // After the definition: a crash here leaves deliveries nothing shows, purged at the next start.
            await PurgeDeliveriesAsync(name, CancellationToken.None).ConfigureAwait(false);
        }

        return deleted;
    }

    /// <summary>
    /// Every definition (the current ones, then each change as it is stored, on any node), until cancelled; a change
    /// with <see cref="RoutingDefinitionChange.Loaded"/> set is the last of the definitions that existed when it started.
    /// </summary>
    public async IAsyncEnumerable<RoutingDefinitionChange> WatchDefinitionsAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await OpenAsync(cancellationToken).ConfigureAwait(false);
        var loaded = false;
        var empty = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var opts = WatchHeartbeat.Options with
        {
            OnNoData = _ =>
            {
                empty.TrySetResult();
                return ValueTask.FromResult(false);
            },
        };
        await using var entries = _buckets.Definitions.WatchAsync<byte[]>(opts: opts, cancellationToken: cancellationToken)
            .GetAsyncEnumerator(cancellationToken);
        while (true)
        {
            var next = entries.MoveNextAsync().AsTask();
            if (!loaded && await Task.WhenAny(next, empty.Task).ConfigureAwait(false) == empty.Task)
            {
                // An empty bucket: nothing to load, say so at once.
                loaded = true;
                yield return new RoutingDefinitionChange("", "", null, 0, Loaded: true);
            }

            if (!await next.ConfigureAwait(false))
            {
                yield break;
            }

            var entry = entries.Current;
            int dot = entry.Key.IndexOf('.', StringComparison.Ordinal);
            var table = dot > 0 ? entry.Key[..dot] : "";
            var name = dot > 0 ? KeyNames.Unescape(entry.Key[(dot + 1)..]) : null;
            bool last = !loaded && entry.Delta == 0;
            loaded |= last;
            if (name is null || !Tables.Contains(table))
            {
                if (last)
                {
                    yield return new RoutingDefinitionChange("", "", null, entry.Revision, Loaded: true);
                }

                continue;
            }

            var definition = entry.Operation == NatsKVOperation.Put && entry.Value is { } value ? Encoding.UTF8.GetString(value) : null;
            yield return new RoutingDefinitionChange(table, name, definition, entry.Revision, last);
        }
    }

    /// <summary>Whether this node wrote the definition at <paramref name="change"/>'s revision or later (it applied that itself).</summary>
    public bool IsSuperseded(RoutingDefinitionChange change) =>
        _definitions.WroteSince(DefinitionKey(change.Table, change.Name), change.Revision);

    /// <summary>Whether a definition exists now (read from the bucket, not from what this node has seen).</summary>
    public async Task<bool> DefinitionExistsAsync(string table, string name, CancellationToken cancellationToken)
    {
        await OpenAsync(cancellationToken).ConfigureAwait(false);
        var entry = await _buckets.Definitions.TryGetEntryAsync<byte[]>(DefinitionKey(table, name), cancellationToken: cancellationToken).ConfigureAwait(false);
        return entry.Success || (entry.Error is NatsKVKeyNotFoundException or NatsKVKeyDeletedException ? false : throw entry.Error);
    }

    private async Task LoadDefinitionsAsync(CancellationToken cancellationToken)
    {
        var opts = new NatsKVWatchOpts { OnNoData = static _ => ValueTask.FromResult(true) };
        var loaded = Tables.ToDictionary(t => t, _ => new SortedDictionary<string, string>(StringComparer.Ordinal), StringComparer.Ordinal);
        await foreach (var entry in _buckets.Definitions.WatchAsync<byte[]>(opts: opts, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            int dot = entry.Key.IndexOf('.', StringComparison.Ordinal);
            if (entry.Operation == NatsKVOperation.Put && dot > 0 && loaded.TryGetValue(entry.Key[..dot], out var table)
                && KeyNames.Unescape(entry.Key[(dot + 1)..]) is { } name && entry.Value is { } value)
            {
                table[name] = Encoding.UTF8.GetString(value);
            }

            if (entry.Delta == 0)
            {
                break;
            }
        }

        _definitions.Replace(loaded);
    }
}
