using System.Diagnostics;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Internal.JetStream;

/// <summary>
/// The routing store's two key-value buckets, <c>{bucket}</c> (definitions) and <c>{bucket}-deliveries</c>, and how they
/// are opened: created or updated with the cluster's replicas, file storage and a history of 1, trying again while
/// JetStream does not answer yet. Also purges a subscription's deliveries from the deliveries bucket's stream.
/// </summary>
/// <remarks>
/// <see cref="OpenAsync"/> is not safe to call concurrently: the store calls it under its open gate, and reads
/// <see cref="Definitions"/> and <see cref="Deliveries"/> only once that open completed.
/// </remarks>
internal sealed class RoutingBuckets
{
    /// <summary>How long opening keeps trying while JetStream does not answer (a NATS cluster starting up).</summary>
    internal static readonly TimeSpan OpenTimeout = TimeSpan.FromSeconds(120);

    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(250);

    private readonly INatsJSContext _js;
    private readonly INatsKVContext _kv;
    private readonly int _replicas;
    private INatsKVStore? _definitions;
    private INatsKVStore? _deliveries;

    /// <summary>Names the buckets after <paramref name="bucket"/>; nothing is created before <see cref="OpenAsync"/>.</summary>
    public RoutingBuckets(INatsJSContext js, INatsKVContext kv, int replicas, string bucket)
    {
        ArgumentNullException.ThrowIfNull(js);
        ArgumentNullException.ThrowIfNull(kv);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        _js = js;
        _kv = kv;
        _replicas = replicas;
        DefinitionsName = bucket;
        DeliveriesName = bucket + "-deliveries";
    }

    /// <summary>The definitions bucket's name.</summary>
    public string DefinitionsName { get; }

    /// <summary>The deliveries bucket's name.</summary>
    public string DeliveriesName { get; }

    /// <summary>The definitions bucket (after <see cref="OpenAsync"/>).</summary>
    public INatsKVStore Definitions => _definitions ?? throw new InvalidOperationException("The routing buckets are not open.");

    /// <summary>The deliveries bucket (after <see cref="OpenAsync"/>).</summary>
    public INatsKVStore Deliveries => _deliveries ?? throw new InvalidOperationException("The routing buckets are not open.");

    private string DeliveriesStream => "KV_" + DeliveriesName;

    /// <summary>Creates or updates both buckets, trying again for up to <see cref="OpenTimeout"/> while JetStream does not answer.</summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        _definitions = await RetryAsync(() => _kv.CreateOrUpdateStoreAsync(Config(DefinitionsName,
            "Iot routes and event subscriptions: one key per definition (docs/cluster.md)"), cancellationToken).AsTask(), cancellationToken).ConfigureAwait(false);
        _deliveries = await RetryAsync(() => _kv.CreateOrUpdateStoreAsync(Config(DeliveriesName,
            "Iot event deliveries: one key per pending or dead-lettered event (docs/cluster.md)"), cancellationToken).AsTask(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes every message of a subscription's delivery keys (one purge of their subjects), and returns the last
    /// sequence of the deliveries bucket's stream after it: no later revision can be of a purged delivery.
    /// </summary>
    public async Task<ulong> PurgeDeliveriesAsync(string subscription, CancellationToken cancellationToken)
    {
        await _js.PurgeStreamAsync(DeliveriesStream, new StreamPurgeRequest { Filter = SubjectsOf(subscription) }, cancellationToken).ConfigureAwait(false);
        var info = await _js.GetStreamAsync(DeliveriesStream, cancellationToken: cancellationToken).ConfigureAwait(false);
        return info.Info.State.LastSeq;
    }

    /// <summary>Deletes the messages of a subscription's delivery keys below the stream sequence <paramref name="below"/>.</summary>
    public async Task PurgeDeliveriesBelowAsync(string subscription, ulong below, CancellationToken cancellationToken) =>
        await _js.PurgeStreamAsync(DeliveriesStream, new StreamPurgeRequest { Filter = SubjectsOf(subscription), Seq = below }, cancellationToken)
            .ConfigureAwait(false);

    /// <summary>
    /// Runs <paramref name="operation"/>, again every 250 ms while it fails because JetStream does not answer (no
    /// response, 503, no responders: a NATS cluster still electing its leaders), up to <see cref="OpenTimeout"/>.
    /// </summary>
    public static async Task<T> RetryAsync<T>(Func<Task<T>> operation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operation);
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

    private string SubjectsOf(string subscription) => $"$KV.{DeliveriesName}.{KeyNames.Escape(subscription)}.>";

    private NatsKVConfig Config(string bucket, string description) => new(bucket)
    {
        Description = description,
        History = 1,
        NumberOfReplicas = _replicas,
        Storage = NatsKVStorageType.File,
    };
}
