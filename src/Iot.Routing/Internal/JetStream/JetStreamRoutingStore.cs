using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Internal.JetStream;

/// <summary>
/// The routing layer's durable state in cluster mode, shared by every node: definitions in the key-value bucket
/// <c>{prefix}</c> (keys <c>routes.&lt;name&gt;</c> and <c>subscriptions.&lt;name&gt;</c>), deliveries in
/// <c>{prefix}-deliveries</c> (one key per delivery, <c>&lt;subscription&gt;.&lt;id&gt;</c>, its value a
/// <see cref="StoredDelivery"/>). Both with the cluster's replicas and file storage, created or updated at open
/// (<see cref="RoutingBuckets"/>).
/// </summary>
/// <remarks>
/// <para>
/// Every change is one key-value write that completes when JetStream acknowledged it; every change of an existing
/// delivery is a compare-and-set on the revision it was read at, so two nodes acting on one delivery cannot both win:
/// the loser's task sees no change (a lock token fails, a delete counts 0) and its view is refreshed. Reads (due
/// deliveries, counts, dead letters, quota) come from this node's <see cref="DeliveryIndex"/>, fed by its own writes
/// and by a watch of the bucket (<see cref="DeliveryWatch"/>). Settling by lock token reads the key itself, so a token taken on one node settles on
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

    private static readonly string[] Tables = ["routes", "subscriptions"];

    private readonly RoutingBuckets _buckets;
    private readonly DeliveryLimits _limits;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action<string, int>? _deadLettersEvicted;
    private readonly SemaphoreSlim _openGate = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly DeliveryIndex _index = new();
    private readonly DeliveryWatch _deliveryWatch;
    private readonly DefinitionTables _definitions = new(Tables);
    private ulong _previousSweep;
    private int _disposed;
    private Task? _running;

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
        _limits = new DeliveryLimits(maxPendingEvents, maxPendingBytes, maxDeadLetteredEvents);
        _buckets = new RoutingBuckets(js, kv, replicas, bucket);
        _time = timeProvider;
        _logger = logger ?? NullLogger.Instance;
        _deadLettersEvicted = deadLettersEvicted;
        _deliveryWatch = new DeliveryWatch(_buckets, _index, timeProvider, _logger, deliveriesAvailable);
    }

    /// <summary>How often the delete markers of delivered events are swept from the deliveries bucket (<see cref="SweepDeleteMarkersAsync"/>).</summary>
    internal static readonly TimeSpan SweepInterval = TimeSpan.FromHours(1);

    /// <summary>The definitions bucket.</summary>
    public string DefinitionsBucket => _buckets.DefinitionsName;

    /// <summary>The deliveries bucket.</summary>
    public string DeliveriesBucket => _buckets.DeliveriesName;

    /// <inheritdoc/>
    public string Path => $"NATS key-value buckets {DefinitionsBucket} and {DeliveriesBucket}";

    /// <inheritdoc/>
    public ConcurrentQueue<(string Table, string Name, string Reason)> SkippedDefinitions { get; } = new();

    /// <inheritdoc/>
    public int MaxPendingEvents => _limits.MaxPendingEvents;

    /// <inheritdoc/>
    public long MaxPendingBytes => _limits.MaxPendingBytes;

    /// <inheritdoc/>
    public int MaxDeadLetteredEvents => _limits.MaxDeadLetteredEvents;

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
        var lastSeq = await _buckets.PurgeDeliveriesAsync(subscription, cancellationToken).ConfigureAwait(false);
        _index.Forget(subscription, lastSeq);
    }

    /// <summary>
    /// Creates or updates both buckets, loads the definitions and this node's view of the deliveries (and starts
    /// following them). Every operation calls it; it does its work once.
    /// </summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _running) is null)
        {
            await _openGate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_running is null)
                {
                    await _buckets.OpenAsync(cancellationToken).ConfigureAwait(false);
                    await RoutingBuckets.RetryAsync(async () =>
                    {
                        await LoadDefinitionsAsync(cancellationToken).ConfigureAwait(false);
                        return true;
                    }, cancellationToken).ConfigureAwait(false);
                    var follow = Task.Run(() => _deliveryWatch.RunAsync(_stopping.Token), CancellationToken.None);
                    var sweep = Task.Run(() => SweepLoopAsync(_stopping.Token), CancellationToken.None);
                    Volatile.Write(ref _running, Task.WhenAll(follow, sweep));
                }
            }
            finally
            {
                _openGate.Release();
            }
        }

        await _deliveryWatch.Loaded.WaitAsync(cancellationToken).ConfigureAwait(false);
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
        if (_running is { } running)
        {
            await running.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        _deliveryWatch.Abandon();
        _stopping.Dispose();
        _openGate.Dispose();
    }

    private static string DefinitionKey(string table, string name) => table + "." + KeyNames.Escape(name);

    private static void CheckTable(string table)
    {
        if (table is not ("routes" or "subscriptions"))
        {
            throw new ArgumentOutOfRangeException(nameof(table));
        }
    }
}

/// <summary>
/// One definition as stored (null: deleted) at a revision of the definitions bucket; <paramref name="Loaded"/> marks
/// the last of those that existed when the watch started (then <paramref name="Table"/> may be empty: nothing to apply).
/// </summary>
internal readonly record struct RoutingDefinitionChange(string Table, string Name, string? Definition, ulong Revision, bool Loaded);
