using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using Iot.Messaging.JetStream;

namespace Iot.Streams.Log.JetStream;

/// <summary>
/// The streams of cluster mode: each partition a replicated JetStream stream (<see cref="JetStreamLog"/>), the
/// definitions in the key-value bucket <see cref="JetStreamLogOptions.DefinitionsBucket"/> shared by every node (one key
/// per stream, its JSON definition; followed by a watch, so a stream created on one node opens on every other), and
/// the consumer groups in <see cref="KeyValueConsumerGroups"/>. Owns the open partitions, the publisher and both
/// followers; <c>_openGate</c> serialises opening a stream (from a create or from the watch), nothing else is locked.
/// </summary>
/// <remarks>
/// The configured streams are known before <see cref="StartAsync"/> (routes naming them validate while the host is
/// built) and created there when missing; an existing stream keeps its stored definition, as in the file store.
/// </remarks>
internal sealed class JetStreamStreamStore : IStreamStore, IAsyncDisposable
{
    private readonly INatsJSContext _js;
    private readonly JetStreamLogOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, OpenStream> _streams = new(StringComparer.Ordinal);
    private readonly Dictionary<string, StreamDefinition> _configured;
    private readonly KeyValueFollower _definitions;
    private readonly KeyValueConsumerGroups _groups;
    private readonly JetStreamPublisher _publisher;
    private readonly SemaphoreSlim _openGate = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private int _disposed;
    private readonly ConcurrentQueue<Task> _opening = new();
    private volatile bool _started;

    public JetStreamStreamStore(INatsJSContext js, INatsKVContext kv, JetStreamLogOptions options, IEnumerable<StreamDefinition> configured, ILogger logger)
    {
        _js = js;
        _options = options;
        _logger = logger;
        _configured = configured.ToDictionary(d => d.Name, StringComparer.Ordinal);
        _publisher = new JetStreamPublisher(js.Connection, options.RequestTimeout, options.TimeProvider, options.AppendDuration);
        _groups = new KeyValueConsumerGroups(kv, options, logger);
        _definitions = new KeyValueFollower(kv, new NatsKVConfig(options.DefinitionsBucket)
        {
            Description = "Iot stream definitions: one key per stream (docs/cluster.md)",
            History = 1,
            NumberOfReplicas = options.Replicas,
            Storage = NatsKVStorageType.File,
        }, options, OnDefinition, logger);
    }

    /// <inheritdoc/>
    public IReadOnlyCollection<StreamDefinition> Streams => [.. _streams.Values.Select(s => s.Definition).OrderBy(d => d.Name, StringComparer.Ordinal)];

    /// <summary>Opens the buckets and the streams defined so far, and creates the configured streams that do not exist.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await _publisher.StartAsync(cancellationToken).ConfigureAwait(false);
        await _groups.StartAsync(cancellationToken).ConfigureAwait(false);
        await _definitions.StartAsync(cancellationToken).ConfigureAwait(false);
        while (_opening.TryDequeue(out var opening))
        {
            await opening.ConfigureAwait(false);
        }

        foreach (var definition in _configured.Values)
        {
            var result = await TryCreateAsync(definition, cancellationToken).ConfigureAwait(false);
            if (!result.Created)
            {
                await OpenAsync(result.Definition, discovered: false, cancellationToken).ConfigureAwait(false);
            }
        }

        _started = true;
        JetStreamLogEvents.Opened(_logger, _streams.Count, _options.DefinitionsBucket, _options.GroupsBucket);
    }

    /// <inheritdoc/>
    public async ValueTask<StreamCreateResult> TryCreateAsync(StreamDefinition definition, CancellationToken cancellationToken = default)
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

        if (_streams.TryGetValue(definition.Name, out var open))
        {
            return new StreamCreateResult(false, open.Definition);
        }

        // The partition streams first, then the definition: a node that sees the definition finds its streams. Two nodes
        // creating one name at once both create (or update) the streams; one definition wins and the other node returns it.
        await EnsurePartitionStreamsAsync(definition, cancellationToken).ConfigureAwait(false);
        var key = JetStreamNames.Escape(definition.Name);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        var value = JsonSerializer.SerializeToUtf8Bytes(definition);
        var created = await JetStreamRetry.WriteAsync(ct => _definitions.Store.TryCreateExclusiveAsync(key, value, ct), timeout.Token).ConfigureAwait(false);
        if (created.Success)
        {
            await OpenAsync(definition, discovered: false, cancellationToken).ConfigureAwait(false);
            JetStreamLogEvents.Created(_logger, definition.Name, definition.Partitions);
            return new StreamCreateResult(true, definition);
        }

        if (created.Error is not NatsKVCreateException)
        {
            throw created.Error;
        }

        var entry = await _definitions.Store.GetEntryAsync<byte[]>(key, cancellationToken: timeout.Token).ConfigureAwait(false);
        var existing = JsonSerializer.Deserialize<StreamDefinition>(entry.Value) ?? throw new InvalidDataException($"The definition of stream '{definition.Name}' is null.");
        await EnsurePartitionStreamsAsync(existing, cancellationToken).ConfigureAwait(false);
        await OpenAsync(existing, discovered: false, cancellationToken).ConfigureAwait(false);
        return new StreamCreateResult(false, existing);
    }

    /// <inheritdoc/>
    public StreamDefinition? Find(string name) =>
        _streams.TryGetValue(name, out var open) ? open.Definition
        : !_started && _configured.TryGetValue(name, out var configured) ? configured
        : null;

    /// <inheritdoc/>
    public IStreamLog GetPartition(string stream, int partition) =>
        _streams.TryGetValue(stream, out var open) && partition >= 0 && partition < open.Partitions.Length
            ? open.Partitions[partition]
            : throw new KeyNotFoundException($"Stream '{stream}' has no partition {partition}.");

    /// <inheritdoc/>
    public IConsumerGroupStore GetGroups(string stream) =>
        _streams.ContainsKey(stream) ? _groups.ForStream(stream) : throw new KeyNotFoundException($"There is no stream named '{stream}'.");

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        // The host may dispose twice (a failed start): the second time does nothing.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _definitions.DisposeAsync().ConfigureAwait(false);
        await _groups.DisposeAsync().ConfigureAwait(false);
        foreach (var open in _streams.Values)
        {
            foreach (var partition in open.Partitions)
            {
                await partition.DisposeAsync().ConfigureAwait(false);
            }
        }

        _streams.Clear();
        await _publisher.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
        _openGate.Dispose();
    }

    private async Task EnsurePartitionStreamsAsync(StreamDefinition definition, CancellationToken cancellationToken)
    {
        for (var p = 0; p < definition.Partitions; p++)
        {
            var config = JetStreamLog.ConfigFor(JetStreamNames.PartitionStream(_options.StreamPrefix, definition.Name, p),
                JetStreamNames.PartitionSubject(_options.SubjectPrefix, definition.Name, p), definition, _options.Replicas);
            await JetStreamRetry.RunAsync(ct => _js.CreateOrUpdateStreamAsync(config, ct).AsTask(), _options.RequestTimeout, _options.SetupWindow,
                _options.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task OpenAsync(StreamDefinition definition, bool discovered, CancellationToken cancellationToken)
    {
        await _openGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_streams.ContainsKey(definition.Name))
            {
                return;
            }

            var partitions = new JetStreamLog[definition.Partitions];
            for (var p = 0; p < partitions.Length; p++)
            {
                partitions[p] = new JetStreamLog(_js, _publisher, JetStreamNames.PartitionStream(_options.StreamPrefix, definition.Name, p),
                    JetStreamNames.PartitionSubject(_options.SubjectPrefix, definition.Name, p), _options, _logger, definition.Name);
                await partitions[p].OpenAsync(cancellationToken).ConfigureAwait(false);
            }

            _streams[definition.Name] = new OpenStream(definition, partitions);
            if (discovered)
            {
                JetStreamLogEvents.Discovered(_logger, definition.Name, definition.Partitions);
            }
        }
        finally
        {
            _openGate.Release();
        }
    }

    /// <summary>A definition from the bucket's watch: opened here in the background (the watch goes on meanwhile).</summary>
    private void OnDefinition(NatsKVEntry<byte[]> entry)
    {
        if (entry.Operation != NatsKVOperation.Put)
        {
            return;
        }

        StreamDefinition? definition;
        try
        {
            definition = JsonSerializer.Deserialize<StreamDefinition>(entry.Value ?? []);
        }
        catch (JsonException ex)
        {
            JetStreamLogEvents.EntrySkipped(_logger, _options.DefinitionsBucket, entry.Key, ex.Message);
            return;
        }

        if (definition is null || !StreamDefinition.IsValidName(definition.Name) || _streams.ContainsKey(definition.Name))
        {
            return;
        }

        var opening = Task.Run(async () =>
        {
            try
            {
                await OpenAsync(definition, discovered: true, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !_stop.IsCancellationRequested)
            {
                JetStreamLogEvents.DiscoverFailed(_logger, definition.Name, ex);
            }
        });
        if (!_started)
        {
            // Streams defined before this node started are open when StartAsync completes.
            _opening.Enqueue(opening);
        }
    }

    private sealed record OpenStream(StreamDefinition Definition, JetStreamLog[] Partitions);
}
