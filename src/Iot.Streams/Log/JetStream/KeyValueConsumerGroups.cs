using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using NATS.Client.KeyValueStore;

namespace Iot.Streams.Log.JetStream;

/// <summary>
/// The consumer groups of every stream in one key-value bucket shared by every node: a key
/// <c>{stream}.{group}</c> per group (its existence) and <c>{stream}.{group}.{partition}</c> per committed offset
/// (JSON), names escaped by <see cref="JetStreamNames"/>. Commits are key-value writes, so a group's commits on any
/// node are one cursor; compare-and-set on a key's revision fences a stale owner. One watch keeps this node's view
/// (<see cref="IConsumerGroupStore.GetCommitted"/>) current. Owns the follower and the per-stream views.
/// </summary>
internal sealed class KeyValueConsumerGroups : IAsyncDisposable
{
    private readonly KeyValueFollower _follower;
    private readonly ConcurrentDictionary<string, KeyValueConsumerGroupStore> _streams = new(StringComparer.Ordinal);
    private readonly JetStreamLogOptions _options;
    private readonly ILogger _logger;

    public KeyValueConsumerGroups(INatsKVContext kv, JetStreamLogOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        var config = new NatsKVConfig(options.GroupsBucket)
        {
            Description = "Iot stream consumer groups: committed offsets per group and partition (docs/cluster.md)",
            History = 1,
            NumberOfReplicas = options.Replicas,
            Storage = NatsKVStorageType.File,
        };
        _follower = new KeyValueFollower(kv, config, options, Apply, logger);
    }

    /// <summary>The bucket.</summary>
    public INatsKVStore Store => _follower.Store;

    /// <summary>How long a commit or read may take.</summary>
    public TimeSpan RequestTimeout => _options.RequestTimeout;

    /// <summary>Opens the bucket and loads every group.</summary>
    public Task StartAsync(CancellationToken cancellationToken) => _follower.StartAsync(cancellationToken);

    /// <summary>The groups of <paramref name="stream"/>.</summary>
    public KeyValueConsumerGroupStore ForStream(string stream) =>
        _streams.GetOrAdd(stream, static (name, groups) => new KeyValueConsumerGroupStore(groups, name), this);

    public ValueTask DisposeAsync() => _follower.DisposeAsync();

    /// <summary>The key of a group's existence.</summary>
    public static string GroupKey(string stream, string group) => JetStreamNames.Escape(stream) + "." + JetStreamNames.Escape(group);

    /// <summary>The key of a group's committed offset in one partition.</summary>
    public static string OffsetKey(string stream, string group, int partition) =>
        GroupKey(stream, group) + "." + partition.ToString(CultureInfo.InvariantCulture);

    /// <summary>The stored form of a committed offset.</summary>
    public static byte[] Serialize(CommittedOffset offset) => JsonSerializer.SerializeToUtf8Bytes(new StoredOffset(offset.Offset, offset.Metadata));

    /// <summary>A committed offset from its stored form.</summary>
    public static CommittedOffset Deserialize(byte[]? value)
    {
        var stored = JsonSerializer.Deserialize<StoredOffset>(value ?? []) ?? throw new JsonException("null offset");
        return new CommittedOffset(stored.Offset, stored.Metadata);
    }

    private void Apply(NatsKVEntry<byte[]> entry)
    {
        var parts = entry.Key.Split('.');
        if (parts.Length is < 2 or > 3 || JetStreamNames.Unescape(parts[0]) is not { } stream || JetStreamNames.Unescape(parts[1]) is not { } group)
        {
            JetStreamLogEvents.EntrySkipped(_logger, _options.GroupsBucket, entry.Key, "not a group or offset key");
            return;
        }

        var deleted = entry.Operation != NatsKVOperation.Put;
        var view = ForStream(stream);
        if (parts.Length == 2)
        {
            view.ApplyGroup(group, !deleted, (long)entry.Revision);
            return;
        }

        if (!int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var partition))
        {
            JetStreamLogEvents.EntrySkipped(_logger, _options.GroupsBucket, entry.Key, "the partition is not a number");
            return;
        }

        try
        {
            view.ApplyOffset(group, partition, deleted ? null : Deserialize(entry.Value), (long)entry.Revision);
        }
        catch (JsonException ex)
        {
            JetStreamLogEvents.EntrySkipped(_logger, _options.GroupsBucket, entry.Key, ex.Message);
        }
    }

    private sealed record StoredOffset(long Offset, string? Metadata);
}
