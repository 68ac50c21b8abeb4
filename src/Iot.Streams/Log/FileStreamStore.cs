using System.Collections.Concurrent;
using System.Text.Json;
using Iot.Messaging.Storage;

namespace Iot.Streams.Log;

/// <summary>
/// The streams on disk: <c>{dir}/{stream}/stream.json</c> (the definition), <c>{dir}/{stream}/{partition}/</c> (a
/// <see cref="SegmentLog"/> each) and <c>{dir}/{stream}/groups/</c> (<see cref="ConsumerGroupStore"/>).
/// </summary>
internal sealed class FileStreamStore : IStreamStore, IAsyncDisposable
{
    private readonly string _directory;
    private readonly Func<StreamDefinition, SegmentLogOptions> _logOptions;
    private readonly ConcurrentDictionary<string, OpenStream> _streams = new(StringComparer.Ordinal);
    private readonly Lock _createLock = new();

    public FileStreamStore(string directory, Func<StreamDefinition, SegmentLogOptions> logOptions)
    {
        _directory = directory;
        _logOptions = logOptions;
        Directory.CreateDirectory(directory);
        foreach (var file in Directory.GetDirectories(directory).Select(d => System.IO.Path.Combine(d, "stream.json")).Where(File.Exists))
        {
            // One unreadable definition costs that stream only (its files stay); the start-up log names it.
            try
            {
                var definition = JsonSerializer.Deserialize<StreamDefinition>(File.ReadAllBytes(file))
                    ?? throw new InvalidDataException("the definition is null");
                _streams[definition.Name] = Open(definition);
            }
            catch (Exception ex) when (ex is JsonException or InvalidDataException)
            {
                SkippedFiles.Add((file, ex.Message));
            }
        }
    }

    /// <summary>Stream definitions and consumer group files that could not be read at start-up, as (file, reason).</summary>
    public List<(string File, string Reason)> SkippedFiles { get; } = [];

    /// <summary>The tails recovery cut from active segments at start (<see cref="SegmentLog.RecoveryCut"/>), to be logged.</summary>
    public List<(string File, long Position, long Bytes)> RecoveryCuts { get; } = [];

    /// <summary>The root directory of the streams.</summary>
    public string Path => _directory;

    /// <inheritdoc/>
    public IReadOnlyCollection<StreamDefinition> Streams => [.. _streams.Values.Select(s => s.Definition).OrderBy(d => d.Name, StringComparer.Ordinal)];

    /// <inheritdoc/>
    public ValueTask<StreamCreateResult> TryCreateAsync(StreamDefinition definition, CancellationToken cancellationToken = default) =>
        new(new StreamCreateResult(TryCreate(definition, out var existing), existing));

    /// <summary>Creates a stream, or returns false with the existing definition when one with that name exists (synchronous: files only).</summary>
    public bool TryCreate(StreamDefinition definition, out StreamDefinition existing)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (!StreamDefinition.IsValidName(definition.Name))
        {
            throw new ArgumentException(StreamDefinition.Validate(definition.Name), nameof(definition));
        }

        if (definition.Partitions is < 1 or > 256)
        {
            throw new ArgumentException("partitions must be between 1 and 256.", nameof(definition));
        }

        lock (_createLock)
        {
            if (_streams.TryGetValue(definition.Name, out var open))
            {
                existing = open.Definition;
                return false;
            }

            var streamDirectory = System.IO.Path.Combine(_directory, definition.Name);
            Directory.CreateDirectory(streamDirectory);
            var file = System.IO.Path.Combine(streamDirectory, "stream.json");
            using (var stream = new FileStream(file + ".tmp", FileMode.Create, FileAccess.Write))
            {
                JsonSerializer.Serialize(stream, definition);
                stream.Flush(flushToDisk: true);
            }

            File.Move(file + ".tmp", file, overwrite: true);
            DirectorySync.Flush(streamDirectory);
            _streams[definition.Name] = Open(definition);
            existing = definition;
            return true;
        }
    }

    /// <inheritdoc/>
    public StreamDefinition? Find(string name) => _streams.TryGetValue(name, out var open) ? open.Definition : null;

    /// <inheritdoc/>
    public IStreamLog GetPartition(string stream, int partition) =>
        _streams.TryGetValue(stream, out var open) && partition >= 0 && partition < open.Partitions.Length
            ? open.Partitions[partition]
            : throw new KeyNotFoundException($"Stream '{stream}' has no partition {partition}.");

    /// <inheritdoc/>
    public IConsumerGroupStore GetGroups(string stream) =>
        _streams.TryGetValue(stream, out var open) ? open.Groups : throw new KeyNotFoundException($"There is no stream named '{stream}'.");

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        foreach (var open in _streams.Values)
        {
            foreach (var partition in open.Partitions)
            {
                await partition.DisposeAsync().ConfigureAwait(false);
            }
        }

        _streams.Clear();
    }

    /// <summary>
    /// Copies every stream into <paramref name="target"/> (the same layout) while appends go on: the definition, then
    /// the consumer groups' committed offsets, then each partition's log (<see cref="SegmentLog.CopyToAsync"/>). The
    /// groups are taken first, so no committed offset in the copy lies past its partition's copied end.
    /// </summary>
    /// <returns>Per stream partition (<c>{stream}/{partition}</c>) the next offset of the copy.</returns>
    public async Task<IReadOnlyDictionary<string, long>> BackupAsync(string target, CancellationToken cancellationToken)
    {
        var offsets = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var open in _streams.Values)
        {
            var source = System.IO.Path.Combine(_directory, open.Definition.Name);
            var copy = System.IO.Path.Combine(target, open.Definition.Name);
            Directory.CreateDirectory(copy);
            File.Copy(System.IO.Path.Combine(source, "stream.json"), System.IO.Path.Combine(copy, "stream.json"));
            open.Groups.CopyTo(System.IO.Path.Combine(copy, "groups"));
            for (int i = 0; i < open.Partitions.Length; i++)
            {
                var partition = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                var (_, next) = await open.Partitions[i].CopyToAsync(System.IO.Path.Combine(copy, partition), cancellationToken).ConfigureAwait(false);
                offsets[open.Definition.Name + "/" + partition] = next;
            }
        }

        return offsets;
    }

    private OpenStream Open(StreamDefinition definition)
    {
        var streamDirectory = System.IO.Path.Combine(_directory, definition.Name);
        var options = _logOptions(definition);
        var partitions = new SegmentLog[definition.Partitions];
        for (int i = 0; i < partitions.Length; i++)
        {
            partitions[i] = SegmentLog.Open(System.IO.Path.Combine(streamDirectory, i.ToString(System.Globalization.CultureInfo.InvariantCulture)), options);
            if (partitions[i].RecoveryCut is { } cut)
            {
                RecoveryCuts.Add(cut);
            }
        }

        var groups = new ConsumerGroupStore(System.IO.Path.Combine(streamDirectory, "groups"));
        SkippedFiles.AddRange(groups.SkippedFiles);
        return new OpenStream(definition, partitions, groups);
    }

    private sealed record OpenStream(StreamDefinition Definition, SegmentLog[] Partitions, ConsumerGroupStore Groups);
}
