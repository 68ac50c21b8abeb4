using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Iot.Routing.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using Iot.Messaging.JetStream;

namespace Iot.Routing.Queues.JetStream;

/// <summary>
/// <see cref="IQueueStore"/> on NATS JetStream key-value buckets, shared by every node of a cluster (docs/cluster.md,
/// "Queues (part 2)"): the definitions in <c>{prefix}-queues</c> (one key per queue), and per queue one bucket
/// <c>{prefix}-queue-{name}</c> with a key per message (<c>m.&lt;id&gt;</c>: header and body, its first revision being
/// the sequence number), per session (<c>l.&lt;id&gt;</c>: lock and state) and per remembered message id
/// (<c>d.&lt;id&gt;</c>). Every state change is one compare-and-set on the key's revision, so two nodes never both lock,
/// complete or move one message, and a task completes only once its write has a revision (a majority of the replicas).
/// </summary>
/// <remarks>
/// Each node keeps an index of every queue (<see cref="QueueIndex"/>) fed by a watch of its bucket and by its own
/// writes: receives pick candidates there and claim them by compare-and-set; a stale index costs a failed write and a
/// re-read, never a second lock. Statistics, peek and the choice of the next session read the index, so they show
/// another node's change once the watch brought it (normally within a millisecond or so). Time comes from the
/// <see cref="TimeProvider"/> (lock expiry, TTL, schedules, the duplicate window), not from the servers.
/// </remarks>
internal sealed partial class JetStreamQueueStore : IQueueStore, IQueueArrivals, IAsyncDisposable
{
    /// <summary>The default prefix of the buckets' names.</summary>
    public const string DefaultPrefix = "iot";

    private const int MaxMessagesPerCall = 1000;
    private const long Never = long.MaxValue;

    /// <summary>How long opening a bucket keeps trying while JetStream does not answer (a NATS cluster electing leaders).</summary>
    private static readonly TimeSpan OpenTimeout = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(250);

    /// <summary>How long a start-up watch may bring nothing (not even "no data") before it is started again.</summary>
    private static readonly TimeSpan StartWatchTimeout = TimeSpan.FromSeconds(5);

    private readonly INatsKVContext _kv;
    private readonly int _replicas;
    private readonly string _prefix;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, QueueIndex> _queues = new(StringComparer.Ordinal);
    private readonly Lock _attachGate = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lazy<Task> _started;
    private INatsKVStore? _definitions;
    private int _disposed;

    /// <summary>Uses the buckets named after <paramref name="prefix"/> on <paramref name="kv"/>, created with <paramref name="replicas"/> when missing.</summary>
    /// <param name="kv">The key-value context of this node's NATS connection.</param>
    /// <param name="replicas">Replicas of every bucket (3 in a cluster of three servers).</param>
    /// <param name="timeProvider">The clock for locks, TTLs, schedules and duplicate detection.</param>
    /// <param name="logger">The log (event ids 2900-2929).</param>
    /// <param name="prefix">The prefix of the buckets' names (tests use a fresh one each).</param>
    public JetStreamQueueStore(INatsKVContext kv, int replicas, TimeProvider timeProvider, ILogger<JetStreamQueueStore>? logger = null,
        string prefix = DefaultPrefix)
    {
        ArgumentNullException.ThrowIfNull(kv);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        _kv = kv;
        _replicas = replicas;
        _prefix = prefix;
        _timeProvider = timeProvider;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _started = new Lazy<Task>(StartCoreAsync, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <inheritdoc/>
    public event Action<string, string>? SessionMessageArrived;

    /// <summary>Where the queues are, for logs.</summary>
    public string Location => "NATS key-value buckets " + QueueKeys.DefinitionsBucket(_prefix) + " and " + _prefix + "-queue-*";

    /// <inheritdoc/>
    public IReadOnlyList<QueueProperties> Queues => [.. _queues.Values.Select(q => q.Properties).OrderBy(q => q.Name, StringComparer.Ordinal)];

    /// <inheritdoc/>
    public QueueProperties? FindQueue(string name) => name is not null && _queues.TryGetValue(name, out var queue) ? queue.Properties : null;

    /// <summary>Opens the definitions and every queue's index (also done by the first operation); faults when JetStream stays unreachable.</summary>
    public Task StartAsync() => _started.Value;

    /// <inheritdoc/>
    public async Task<bool> CreateOrUpdateQueueAsync(QueueProperties properties, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(properties);
        if (properties.Validate() is { } error)
        {
            throw new QueueException(QueueError.Invalid, error);
        }

        await StartAsync().ConfigureAwait(false);
        if (FindQueue(properties.Name) is { } existing && existing.RequiresSession != properties.RequiresSession)
        {
            throw RequiresSessionChanged();
        }

        // The bucket first: a node that sees the definition can open it.
        var bucket = await OpenBucketAsync(QueueKeys.QueueBucket(_prefix, properties.Name), $"Iot queue {properties.Name}: messages, sessions, message ids",
            create: true, cancellationToken).ConfigureAwait(false);
        var key = QueueKeys.DefinitionKey(properties.Name);
        var value = JsonSerializer.SerializeToUtf8Bytes(properties, RoutingJson.Options);
        bool created;
        while (true)
        {
            var create = await _definitions!.TryCreateExclusiveAsync(key, value, cancellationToken).ConfigureAwait(false);
            if (create.Success)
            {
                created = true;
                break;
            }

            if (create.Error is not NatsKVCreateException)
            {
                throw create.Error;
            }

            var current = await _definitions!.TryGetEntryAsync<byte[]>(key, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (!current.Success)
            {
                continue;
            }

            if (ReadDefinition(current.Value.Value) is { } stored && stored.RequiresSession != properties.RequiresSession)
            {
                throw RequiresSessionChanged();
            }

            var update = await _definitions.TryUpdateExclusiveAsync(key, value, current.Value.Revision, cancellationToken).ConfigureAwait(false);
            if (update.Success)
            {
                created = false;
                break;
            }
        }

        var index = Attach(properties, bucket);
        await index.Ready.WaitAsync(cancellationToken).ConfigureAwait(false);
        return created;
    }

    /// <inheritdoc/>
    public async Task<bool> DeleteQueueAsync(string queue, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(queue);
        await StartAsync().ConfigureAwait(false);
        var key = QueueKeys.DefinitionKey(queue);
        while (true)
        {
            var current = await _definitions!.TryGetEntryAsync<byte[]>(key, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (!current.Success)
            {
                Detach(queue);
                return current.Error is NatsKVKeyNotFoundException or NatsKVKeyDeletedException ? false : throw current.Error;
            }

            var deleted = await _definitions.TryDeleteExclusiveAsync(key, current.Value.Revision, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (deleted.Success)
            {
                break;
            }
        }

        Detach(queue);
        try
        {
            await _kv.DeleteStoreAsync(QueueKeys.QueueBucket(_prefix, queue), cancellationToken).ConfigureAwait(false);
        }
        catch (NatsJSApiException ex) when (ex.Error.Code == 404)
        {
            // Another node deleted it first.
        }

        return true;
    }

    /// <inheritdoc/>
    public async Task<bool> WaitForMessagesAsync(string queue, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var index = await IndexAsync(queue).ConfigureAwait(false);
        try
        {
            await index.NextArrival.WaitAsync(timeout, _timeProvider, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        // A host that failed to start disposes its services more than once.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var queue in _queues.Values)
        {
            await queue.Stopping.CancelAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    /// <summary>The index of <paramref name="queue"/>, once current; throws <see cref="QueueException"/> (not found) when there is no such queue.</summary>
    /// <summary>This node's index of <paramref name="queue"/> (tests: to make it hold what a lost watch event leaves).</summary>
    internal ValueTask<QueueIndex> IndexForTestsAsync(string queue) => IndexAsync(queue);

    private async ValueTask<QueueIndex> IndexAsync(string queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        var started = StartAsync();
        if (!started.IsCompletedSuccessfully)
        {
            await started.ConfigureAwait(false);
        }

        if (!_queues.TryGetValue(queue, out var index))
        {
            throw new QueueException(QueueError.NotFound, $"There is no queue named '{queue}'.");
        }

        if (!index.Ready.IsCompletedSuccessfully)
        {
            await index.Ready.ConfigureAwait(false);
        }

        return index;
    }

    private static QueueException RequiresSessionChanged() => new(QueueError.Invalid, "requiresSession cannot change after the queue is created.");

    private static QueueProperties? ReadDefinition(byte[]? value)
    {
        try
        {
            return value is null ? null : JsonSerializer.Deserialize<QueueProperties>(value, RoutingJson.Options);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private async Task StartCoreAsync()
    {
        _definitions = await OpenBucketAsync(QueueKeys.DefinitionsBucket(_prefix), "Iot queue definitions: one key per queue", create: true, _stopping.Token)
            .ConfigureAwait(false);
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _ = Task.Run(() => FollowDefinitionsAsync(ready));
        await ready.Task.ConfigureAwait(false);
    }

    /// <summary>Creates (or opens) a bucket, trying again while JetStream elects its leaders.</summary>
    private async Task<INatsKVStore> OpenBucketAsync(string name, string description, bool create, CancellationToken cancellationToken)
    {
        var config = new NatsKVConfig(name)
        {
            Description = description,
            History = 1,
            NumberOfReplicas = _replicas,
            Storage = NatsKVStorageType.File,
        };
        var started = Stopwatch.GetTimestamp();
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return create
                    ? await _kv.CreateOrUpdateStoreAsync(config, cancellationToken).ConfigureAwait(false)
                    : await _kv.GetStoreAsync(name, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsTransient(ex) && Stopwatch.GetElapsedTime(started) < OpenTimeout && !cancellationToken.IsCancellationRequested)
            {
                JetStreamQueueLog.BucketRetry(_logger, name, attempt, ex);
                await Task.Delay(RetryPause, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static bool IsTransient(Exception ex) =>
        ex is NatsJSApiNoResponseException or NatsJSApiException { Error.Code: 503 } or NatsNoRespondersException or NatsJSException
            or NatsException or TimeoutException or (OperationCanceledException and not TaskCanceledException { CancellationToken.IsCancellationRequested: true });

    private long Now() => _timeProvider.GetUtcNow().ToUnixTimeMilliseconds();

    private static DateTimeOffset FromMs(long ms) => ms == Never ? DateTimeOffset.MaxValue : DateTimeOffset.FromUnixTimeMilliseconds(ms);
}
