using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using Iot.Messaging.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Internal.JetStream;

/// <summary>
/// The routing layer's durable state in cluster mode, shared by every node: definitions in the key-value bucket
/// <c>{prefix}</c> (keys <c>routes.&lt;name&gt;</c> and <c>subscriptions.&lt;name&gt;</c>), deliveries in
/// <c>{prefix}-deliveries</c> (one key per delivery, <c>&lt;subscription&gt;.&lt;id&gt;</c>, its value a
/// <see cref="StoredDelivery"/>). Both with the cluster's replicas and file storage, created or updated at open.
/// </summary>
/// <remarks>
/// <para>
/// Every change is one key-value write that completes when JetStream acknowledged it; every change of an existing
/// delivery is a compare-and-set on the revision it was read at, so two nodes acting on one delivery cannot both win:
/// the loser's task sees no change (a lock token fails, a delete counts 0) and its view is refreshed. Reads (due
/// deliveries, counts, dead letters, quota) come from this node's <see cref="DeliveryIndex"/>, fed by its own writes
/// and by a watch of the bucket. Settling by lock token reads the key itself, so a token taken on one node settles on
/// any other, however far behind that node's watch is.
/// </para>
/// <para>
/// Deleting a subscription is two steps, as JetStream has no transaction over keys: the definition first (from then on
/// no node records new deliveries for it, and the API no longer shows it), then one purge of its deliveries' subjects.
/// A crash in between leaves deliveries of a subscription that does not exist, which nothing shows or delivers;
/// <see cref="RoutingDefinitionFollower"/> purges them when a node starts, and every node purges once more when it
/// applies the deletion (deliveries a node recorded in the instant before it learned of it).
/// </para>
/// <para>
/// The quota (<see cref="MaxPendingEvents"/>, <see cref="MaxPendingBytes"/>) is checked against this node's view: two
/// nodes enqueueing for one subscription in the same milliseconds can each take the last room, so a subscription may
/// exceed it by what the other nodes recorded in that time.
/// </para>
/// </remarks>
internal sealed partial class JetStreamRoutingStore : IRoutingStore
{
    /// <summary>The definitions bucket in production; deliveries are in this name plus <c>-deliveries</c>.</summary>
    public const string DefaultBucket = "iot-routing";

    /// <summary>How long opening keeps trying while JetStream does not answer (a NATS cluster starting up).</summary>
    internal static readonly TimeSpan OpenTimeout = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(250);
    private static readonly string[] Tables = ["routes", "subscriptions"];

    private readonly INatsJSContext _js;
    private readonly INatsKVContext _kv;
    private readonly int _replicas;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action<string, int>? _deadLettersEvicted;
    private readonly Action<string>? _deliveriesAvailable;
    private readonly SemaphoreSlim _openGate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly DeliveryIndex _index = new();
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly DefinitionTables _definitions = new(Tables);
    private ulong _previousSweep;
    private int _disposed;
    private INatsKVStore? _definitionsStore;
    private INatsKVStore? _deliveries;
    private Task? _watch;

    /// <summary>
    /// Uses the buckets <paramref name="bucket"/> and <paramref name="bucket"/><c>-deliveries</c>, created (or updated)
    /// with <paramref name="replicas"/> when first used. Limits and the eviction callback as <see cref="SqliteRoutingStore"/>;
    /// <paramref name="deliveriesAvailable"/> is told of a subscription whose deliveries another node recorded or released
    /// (so this node's pull receivers and delivery loop wake up as they do for its own enqueues).
    /// </summary>
    public JetStreamRoutingStore(INatsJSContext js, INatsKVContext kv, int replicas, TimeProvider timeProvider, int maxPendingEvents = int.MaxValue,
        long maxPendingBytes = long.MaxValue, int maxDeadLetteredEvents = int.MaxValue, Action<string, int>? deadLettersEvicted = null,
        string bucket = DefaultBucket, ILogger? logger = null, Action<string>? deliveriesAvailable = null)
    {
        ArgumentNullException.ThrowIfNull(js);
        ArgumentNullException.ThrowIfNull(kv);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPendingEvents, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPendingBytes, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxDeadLetteredEvents, 1);
        _js = js;
        _kv = kv;
        _replicas = replicas;
        _time = timeProvider;
        _logger = logger ?? NullLogger.Instance;
        MaxPendingEvents = maxPendingEvents;
        MaxPendingBytes = maxPendingBytes;
        MaxDeadLetteredEvents = maxDeadLetteredEvents;
        _deadLettersEvicted = deadLettersEvicted;
        _deliveriesAvailable = deliveriesAvailable;
        DefinitionsBucket = bucket;
        DeliveriesBucket = bucket + "-deliveries";
    }

    /// <summary>How often the delete markers of delivered events are swept from the deliveries bucket (<see cref="SweepDeleteMarkersAsync"/>).</summary>
    internal static readonly TimeSpan SweepInterval = TimeSpan.FromHours(1);

    /// <summary>The definitions bucket.</summary>
    public string DefinitionsBucket { get; }

    /// <summary>The deliveries bucket.</summary>
    public string DeliveriesBucket { get; }

    /// <inheritdoc/>
    public string Path => $"NATS key-value buckets {DefinitionsBucket} and {DeliveriesBucket}";

    /// <inheritdoc/>
    public ConcurrentQueue<(string Table, string Name, string Reason)> SkippedDefinitions { get; } = new();

    /// <inheritdoc/>
    public int MaxPendingEvents { get; }

    /// <inheritdoc/>
    public long MaxPendingBytes { get; }

    /// <inheritdoc/>
    public int MaxDeadLetteredEvents { get; }

    /// <summary>The subscriptions this node sees deliveries (pending or dead-lettered) of.</summary>
    public async Task<IReadOnlyList<string>> SubscriptionsWithDeliveriesAsync(CancellationToken cancellationToken)
    {
        await OpenAsync(cancellationToken).ConfigureAwait(false);
        return _index.Subscriptions();
    }

    /// <summary>
    /// Deletes every delivery of a subscription (one purge of its keys' subjects), and forgets them here, including what
    /// the watch still brings of them from before the purge.
    /// </summary>
    public async Task PurgeDeliveriesAsync(string subscription, CancellationToken cancellationToken)
    {
        await OpenAsync(cancellationToken).ConfigureAwait(false);
        var stream = "KV_" + DeliveriesBucket;
        await _js.PurgeStreamAsync(stream, new StreamPurgeRequest { Filter = $"$KV.{DeliveriesBucket}.{KeyNames.Escape(subscription)}.>" }, cancellationToken)
            .ConfigureAwait(false);
        var info = await _js.GetStreamAsync(stream, cancellationToken: cancellationToken).ConfigureAwait(false);
        _index.Forget(subscription, info.Info.State.LastSeq);
    }

    /// <summary>
    /// Creates or updates both buckets, loads the definitions and this node's view of the deliveries (and starts
    /// following them). Every operation calls it; it does its work once.
    /// </summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _watch) is null)
        {
            await _openGate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_watch is null)
                {
                    _definitionsStore = await RetryAsync(() => _kv.CreateOrUpdateStoreAsync(Config(DefinitionsBucket,
                        "Iot routes and event subscriptions: one key per definition (docs/cluster.md)"), cancellationToken).AsTask(), cancellationToken).ConfigureAwait(false);
                    _deliveries = await RetryAsync(() => _kv.CreateOrUpdateStoreAsync(Config(DeliveriesBucket,
                        "Iot event deliveries: one key per pending or dead-lettered event (docs/cluster.md)"), cancellationToken).AsTask(), cancellationToken).ConfigureAwait(false);
                    await RetryAsync(async () =>
                    {
                        await LoadDefinitionsAsync(cancellationToken).ConfigureAwait(false);
                        return true;
                    }, cancellationToken).ConfigureAwait(false);
                    var follow = Task.Run(() => FollowDeliveriesAsync(_stopping.Token), CancellationToken.None);
                    var sweep = Task.Run(() => SweepLoopAsync(_stopping.Token), CancellationToken.None);
                    Volatile.Write(ref _watch, Task.WhenAll(follow, sweep));
                }
            }
            finally
            {
                _openGate.Release();
            }
        }

        await _loaded.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    /// <remarks>Idempotent: the host disposes it once per role it is registered under.</remarks>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_watch is { } watch)
        {
            await watch.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _loaded.TrySetCanceled();
        _stopping.Dispose();
        _openGate.Dispose();
    }

    private NatsKVConfig Config(string bucket, string description) => new(bucket)
    {
        Description = description,
        History = 1,
        NumberOfReplicas = _replicas,
        Storage = NatsKVStorageType.File,
    };

    // The deliveries bucket from its start (the newest value of every key), then every change, into the index; after a
    // failure, again from the first revision not yet seen.
    private async Task FollowDeliveriesAsync(CancellationToken cancellationToken)
    {
        ulong resumeAt = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var opts = WatchHeartbeat.Options with
                {
                    ResumeAtRevision = resumeAt,
                    OnNoData = _ =>
                    {
                        _loaded.TrySetResult();
                        return ValueTask.FromResult(false);
                    },
                };
                await foreach (var entry in _deliveries!.WatchAsync<byte[]>(opts: opts, cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    ApplyWatched(entry);
                    resumeAt = entry.Revision + 1;
                    if (entry.Delta == 0)
                    {
                        _loaded.TrySetResult();
                    }
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // The watch must outlive a NATS outage: log, wait, resume from the first revision not applied.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                JetStreamRoutingLog.WatchFailed(_logger, DeliveriesBucket, resumeAt, ex);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), _time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private void ApplyWatched(NatsKVEntry<byte[]> entry)
    {
        if (ParseDeliveryKey(entry.Key) is not { } subscription)
        {
            return;
        }

        var value = entry.Operation == NatsKVOperation.Put && entry.Value is { } bytes ? StoredDelivery.Read(bytes) : null;
        _index.Apply(entry.Key, subscription, value, entry.Revision, fromWatch: true);
        if (value is { DeadLettered: false, LockToken: null } && _loaded.Task.IsCompleted)
        {
            _deliveriesAvailable?.Invoke(subscription);
        }
    }

    private static string? ParseDeliveryKey(string key)
    {
        int dot = key.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 ? KeyNames.Unescape(key[..dot]) : null;
    }

    private static string DefinitionKey(string table, string name) => table + "." + KeyNames.Escape(name);

    private static void CheckTable(string table)
    {
        if (table is not ("routes" or "subscriptions"))
        {
            throw new ArgumentOutOfRangeException(nameof(table));
        }
    }

    // A NATS cluster that is still electing its JetStream leaders answers nothing or 503 for a while: try again, up to OpenTimeout.
    private static async Task<T> RetryAsync<T>(Func<Task<T>> operation, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                return await operation().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NatsJSApiNoResponseException or NatsJSApiException { Error.Code: 503 } or NatsNoRespondersException
                && Stopwatch.GetElapsedTime(started) < OpenTimeout)
            {
                await Task.Delay(RetryDelay, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}

/// <summary>
/// One definition as stored (null: deleted) at a revision of the definitions bucket; <paramref name="Loaded"/> marks
/// the last of those that existed when the watch started (then <paramref name="Table"/> may be empty: nothing to apply).
/// </summary>
internal readonly record struct RoutingDefinitionChange(string Table, string Name, string? Definition, ulong Revision, bool Loaded);
