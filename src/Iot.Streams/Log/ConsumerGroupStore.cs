using System.Text.Json;
using Iot.Messaging.Storage;

namespace Iot.Streams.Log;

/// <summary>
/// Committed offsets of one stream's consumer groups: one JSON file per group (<c>groups/{group}.json</c>), replaced
/// atomically (write a temporary file, flush it to disk, rename) on each commit. Commits of one group are serialised.
/// Each (group, partition) keeps a revision, raised by every commit and stored with it, for fenced commits
/// (<see cref="TryCommitAsync"/>); entries written before revisions existed read as revision 1.
/// </summary>
internal sealed class ConsumerGroupStore : IConsumerGroupStore
{
    private readonly string _directory;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Dictionary<int, RevisedOffset>> _groups = new(StringComparer.Ordinal);

    public ConsumerGroupStore(string directory)
    {
        _directory = directory;
        Directory.CreateDirectory(directory);
        foreach (var file in Directory.GetFiles(directory, "*.json"))
        {
            // One unreadable group file costs that group only: it starts again from its reset position.
            try
            {
                var entries = JsonSerializer.Deserialize<List<Entry>>(File.ReadAllBytes(file)) ?? [];
                _groups[Path.GetFileNameWithoutExtension(file)] = entries.ToDictionary(e => e.Partition, e => new RevisedOffset(new CommittedOffset(e.Offset, e.Metadata), Math.Max(1, e.Revision)));
            }
            catch (Exception ex) when (ex is JsonException or ArgumentException)
            {
                SkippedFiles.Add((file, ex.Message));
            }
        }
    }

    /// <summary>Group files that could not be read when the store opened, as (file, reason).</summary>
    public List<(string File, string Reason)> SkippedFiles { get; } = [];

    /// <inheritdoc/>
    public IReadOnlyCollection<string> Groups
    {
        get
        {
            lock (_lock)
            {
                return [.. _groups.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Whether <paramref name="name"/> is a valid group name (same rules as stream names).</summary>
    public static bool IsValidName(string? name) => StreamDefinition.IsValidName(name);

    /// <inheritdoc/>
    public ValueTask<bool> CreateAsync(string group, CancellationToken cancellationToken = default)
    {
        Validate(group);
        lock (_lock)
        {
            if (_groups.ContainsKey(group))
            {
                return new(false);
            }

            _groups[group] = [];
            Save(group, _groups[group]);
            return new(true);
        }
    }

    /// <inheritdoc/>
    public ValueTask<bool> DeleteAsync(string group, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            if (!_groups.Remove(group))
            {
                return new(false);
            }

            File.Delete(PathOf(group));
            DirectorySync.Flush(_directory);
            return new(true);
        }
    }

    /// <inheritdoc/>
    public CommittedOffset? GetCommitted(string group, int partition)
    {
        lock (_lock)
        {
            return _groups.TryGetValue(group, out var offsets) && offsets.TryGetValue(partition, out var offset) ? offset.Offset : null;
        }
    }

    /// <inheritdoc/>
    public ValueTask<RevisedOffset?> ReadCommittedAsync(string group, int partition, CancellationToken cancellationToken = default)
    {
        lock (_lock)
        {
            return new(_groups.TryGetValue(group, out var offsets) && offsets.TryGetValue(partition, out var offset) ? offset : null);
        }
    }

    /// <inheritdoc/>
    public ValueTask<long?> TryCommitAsync(string group, int partition, CommittedOffset offset, long expectedRevision,
        CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset.Offset);
        ArgumentOutOfRangeException.ThrowIfNegative(expectedRevision);
        lock (_lock)
        {
            var current = _groups.TryGetValue(group, out var offsets) && offsets.TryGetValue(partition, out var stored) ? stored.Revision : 0;
            return current != expectedRevision ? new((long?)null) : new(CommitLocked(group, partition, offset));
        }
    }

    /// <inheritdoc/>
    public ValueTask CommitAsync(string group, int partition, CommittedOffset offset, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset.Offset);
        lock (_lock)
        {
            CommitLocked(group, partition, offset);
        }

        return ValueTask.CompletedTask;
    }

    private long CommitLocked(string group, int partition, CommittedOffset offset)
    {
        if (!_groups.TryGetValue(group, out var offsets))
        {
            // Only a new group is checked: one stored under an earlier, looser rule keeps working.
            Validate(group);
            _groups[group] = offsets = [];
        }

        var revision = (offsets.TryGetValue(partition, out var stored) ? stored.Revision : 0) + 1;
        offsets[partition] = new RevisedOffset(offset, revision);
        Save(group, offsets);
        return revision;
    }

    private static void Validate(string group)
    {
        if (!IsValidName(group))
        {
            throw new ArgumentException(StreamDefinition.Validate(group, "consumer group name"), nameof(group));
        }
    }

    private string PathOf(string group) => Path.Combine(_directory, group + ".json");

    /// <summary>
    /// Writes every group's committed offsets, as of one moment (under the lock commits take), into
    /// <paramref name="targetDirectory"/> in this store's format (the online backup).
    /// </summary>
    public void CopyTo(string targetDirectory)
    {
        Directory.CreateDirectory(targetDirectory);
        lock (_lock)
        {
            foreach (var (group, offsets) in _groups)
            {
                var entries = offsets.OrderBy(p => p.Key).Select(p => new Entry(p.Key, p.Value.Offset.Offset, p.Value.Offset.Metadata, p.Value.Revision)).ToList();
                using var stream = new FileStream(Path.Combine(targetDirectory, group + ".json"), FileMode.CreateNew, FileAccess.Write, FileShare.None);
                JsonSerializer.Serialize(stream, entries);
                stream.Flush(flushToDisk: true);
            }
        }
    }

    private void Save(string group, Dictionary<int, RevisedOffset> offsets)
    {
        var path = PathOf(group);
        var temp = path + ".tmp";
        var entries = offsets.OrderBy(p => p.Key).Select(p => new Entry(p.Key, p.Value.Offset.Offset, p.Value.Offset.Metadata, p.Value.Revision)).ToList();
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(stream, entries);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temp, path, overwrite: true);
        DirectorySync.Flush(_directory);
    }

    private sealed record Entry(int Partition, long Offset, string? Metadata, long Revision = 0);
}
