using System.Collections.Concurrent;
using Iot.Messaging.Leases;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using Iot.Messaging.JetStream;

namespace Iot.Broker.Cluster.Leases;

/// <summary>
/// <see cref="ISingletonLeases"/> of cluster mode on the key-value bucket <see cref="BucketName"/>: one key per lease
/// (<see cref="LeaseRecord.Key"/>) holding the holder's <see cref="LeaseRecord"/>. A create takes a free lease; a
/// compare-and-set on the revision read takes an expired one (<see cref="LeaseSchedule.IsExpired"/>: this node has seen
/// the same revision for the lease duration on its own clock), so of two nodes only one wins; the revision written is
/// the fencing token. Each held lease renews itself (<see cref="KeyValueLease"/>). Owns the bucket handle, the table of
/// held leases and the table of revisions seen of leases held elsewhere (concurrent dictionaries; no lock).
/// </summary>
internal sealed class KeyValueSingletonLeases : ISingletonLeases, IAsyncDisposable
{
    /// <summary>The bucket.</summary>
    public const string BucketName = "iot-leases";

    /// <summary>How long opening the bucket keeps trying while JetStream does not answer (a NATS cluster starting up).</summary>
    private static readonly TimeSpan OpenRetryDelay = TimeSpan.FromMilliseconds(250);

    private readonly INatsKVContext _kv;
    private readonly int _replicas;
    private readonly string _bucket;
    private readonly SemaphoreSlim _openGate = new(1, 1);
    private readonly ConcurrentDictionary<string, KeyValueLease> _held = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (ulong Revision, long SeenAt)> _seen = new(StringComparer.Ordinal);
    private INatsKVStore? _store;

    public KeyValueSingletonLeases(INatsKVContext kv, string nodeId, int replicas, LeaseSchedule schedule, TimeSpan requestTimeout,
        TimeProvider time, LeaseMetrics metrics, ILogger logger, string bucket = BucketName)
    {
        ArgumentNullException.ThrowIfNull(kv);
        ArgumentException.ThrowIfNullOrEmpty(nodeId);
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        _kv = kv;
        _replicas = replicas;
        _bucket = bucket;
        NodeId = nodeId;
        Schedule = schedule;
        RequestTimeout = requestTimeout;
        Time = time;
        Metrics = metrics;
        Logger = logger;
        Instance = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
    }

    public bool IsClustered => true;

    /// <summary>This node's id (the holder written in records).</summary>
    public string NodeId { get; }

    /// <summary>This coordinator's id: a record of this node with another instance is a previous run's, taken over at once.</summary>
    public string Instance { get; }

    internal LeaseSchedule Schedule { get; }

    internal TimeSpan RequestTimeout { get; }

    internal TimeProvider Time { get; }

    internal LeaseMetrics Metrics { get; }

    internal ILogger Logger { get; }

    /// <summary>Names of the leases this node holds now.</summary>
    public IReadOnlyCollection<string> Held => [.. _held.Keys];

    public async ValueTask<ISingletonLease?> TryAcquireAsync(string name, CancellationToken cancellationToken = default) =>
        (await TryAcquireOrLookAsync(name, cancellationToken).ConfigureAwait(false)).Lease;

    public async Task<ISingletonLease> AcquireAsync(string name, CancellationToken cancellationToken)
    {
        while (true)
        {
            TimeSpan wait;
            try
            {
                var (lease, nextLook) = await TryAcquireOrLookAsync(name, cancellationToken).ConfigureAwait(false);
                if (lease is not null)
                {
                    return lease;
                }

                wait = nextLook;
            }
            catch (Exception ex) when (IsTransient(ex, cancellationToken))
            {
                LeasesLog.AcquireFailed(Logger, name, ex.Message);
                wait = Schedule.RetryInterval;
            }

            await Task.Delay(wait, Time, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var lease in _held.Values)
        {
            await lease.DisposeAsync().ConfigureAwait(false);
        }

        _openGate.Dispose();
    }

    /// <summary>Called by a lease when it ends (released or lost).</summary>
    internal void Forget(KeyValueLease lease) => _held.TryRemove(new KeyValuePair<string, KeyValueLease>(lease.Name, lease));

    /// <summary>The lease when this node took it; else when to look again.</summary>
    private async Task<(ISingletonLease? Lease, TimeSpan NextLook)> TryAcquireOrLookAsync(string name, CancellationToken cancellationToken)
    {
        var key = LeaseRecord.Key(name);
        if (_held.ContainsKey(name))
        {
            // Another loop of this node holds it: that one is the singleton.
            return (null, Schedule.RenewInterval);
        }

        var store = await OpenAsync(cancellationToken).ConfigureAwait(false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestTimeout);
        var current = await store.TryGetEntryAsync<byte[]>(key, cancellationToken: timeout.Token).ConfigureAwait(false);
        LeaseRecord? previous = null;
        ulong revision = 0;
        if (current.Success)
        {
            revision = current.Value.Revision;
            previous = current.Value.Value is { } json ? LeaseRecord.FromJson(json) : null;
            if (previous is null || (previous.Instance != Instance && previous.Holder != NodeId))
            {
                // Held elsewhere (or unreadable): expired once this node has seen the same revision for the duration.
                var seen = _seen.AddOrUpdate(name, static (_, arg) => arg, static (_, old, arg) => old.Revision == arg.Revision ? old : arg,
                    (Revision: revision, SeenAt: Time.GetTimestamp()));
                var unchangedFor = Time.GetElapsedTime(seen.SeenAt);
                var duration = previous?.Duration ?? Schedule.Duration;
                if (!LeaseSchedule.IsExpired(unchangedFor, duration))
                {
                    if (previous is not null)
                    {
                        LeasesLog.HeldElsewhere(Logger, name, previous.Holder, previous.RenewedAt);
                    }

                    return (null, Schedule.NextLook(unchangedFor, duration));
                }
            }
        }
        else if (current.Error is not (NatsKVKeyNotFoundException or NatsKVKeyDeletedException))
        {
            throw current.Error;
        }

        // Free, expired, or this node's own (a previous run, or a renewal that succeeded after this node gave up).
        var sentAt = Time.GetTimestamp();
        var record = new LeaseRecord(NodeId, Instance, Time.GetUtcNow(), Time.GetUtcNow(), (long)Schedule.Duration.TotalMilliseconds);
        var written = revision == 0
            ? await store.TryCreateExclusiveAsync(key, record.ToJson(), timeout.Token).ConfigureAwait(false)
            : await store.TryUpdateExclusiveAsync(key, record.ToJson(), revision, timeout.Token).ConfigureAwait(false);
        if (!written.Success)
        {
            // Another node was faster: it holds the lease now.
            return written.Error is NatsKVCreateException or NatsKVWrongLastRevisionException ? (null, Schedule.RenewInterval) : throw written.Error;
        }

        var token = (long)written.Value;
        _seen.TryRemove(name, out _);
        var lease = new KeyValueLease(this, store, name, key, token, record, sentAt);
        _held[name] = lease;
        var takeover = previous is not null && previous.Holder != NodeId;
        Metrics.OnAcquired(takeover);
        if (takeover)
        {
            LeasesLog.TakenOver(Logger, name, previous!.Holder, previous.RenewedAt, token);
        }
        else
        {
            LeasesLog.Acquired(Logger, name, token);
        }

        lease.Start();
        return (lease, TimeSpan.Zero);
    }

    /// <summary>Creates or updates the bucket once (several nodes may do it at once: the same config is idempotent), trying again while JetStream elects leaders.</summary>
    private async ValueTask<INatsKVStore> OpenAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _store) is { } opened)
        {
            return opened;
        }

        await _openGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            while (_store is null)
            {
                try
                {
                    _store = await _kv.CreateOrUpdateStoreAsync(new NatsKVConfig(_bucket)
                    {
                        Description = "Iot cluster singleton leases: one key per lease, its holder's record; the revision is the fencing token",
                        History = 1,
                        NumberOfReplicas = _replicas,
                        Storage = NatsKVStorageType.File,
                    }, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (IsTransient(ex, cancellationToken))
                {
                    LeasesLog.AcquireFailed(Logger, _bucket, ex.Message);
                    await Task.Delay(OpenRetryDelay, Time, cancellationToken).ConfigureAwait(false);
                }
            }

            return _store;
        }
        finally
        {
            _openGate.Release();
        }
    }

    internal static bool IsTransient(Exception ex, CancellationToken cancellationToken) =>
        !cancellationToken.IsCancellationRequested && ex is NatsException or TimeoutException or OperationCanceledException;
}
