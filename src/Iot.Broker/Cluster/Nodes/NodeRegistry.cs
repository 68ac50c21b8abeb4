using System.Reflection;
using System.Threading.Channels;
using Iot.Broker.Hosting;
using Iot.Broker.Mqtt;
using NATS.Client.Core;
using NATS.Client.KeyValueStore;
using Iot.Messaging.JetStream;

namespace Iot.Broker.Cluster.Nodes;

/// <summary>
/// The node registry (<see cref="IClusterMembership"/>): writes this node's record to <see cref="Bucket"/> every
/// <see cref="ClusterOptions.HeartbeatInterval"/>, watches every node's record into a <see cref="NodeTable"/>, and claims
/// the dead incarnations it sees (a create on <c>claim.{node}.{incarnation}</c>: one node wins) to run the
/// <see cref="OnNodeDied"/> handlers. Owns the bucket handle, the handlers and the queue of deaths to claim.
/// </summary>
internal sealed class NodeRegistry : BackgroundService, IClusterMembership
{
    /// <summary>The key-value bucket of node records and claims.</summary>
    public const string Bucket = "iot-nodes";

    private readonly ClusterConnection _cluster;
    private readonly ClusterOptions _options;
    private readonly BrokerEndpoints _endpoints;
    private readonly BrokerMetrics _brokerMetrics;
    private readonly ClusterMetrics _metrics;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly NodeTable _table;
    private readonly DateTimeOffset _startedAt;
    private readonly string? _version;
    private readonly Channel<NodeRecord> _deaths = Channel.CreateUnbounded<NodeRecord>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _handlersGate = new();
    private Func<ClusterNode, CancellationToken, Task>[] _handlers = [];
    private int _heartbeatFailures;

    public NodeRegistry(ClusterConnection cluster, BrokerEndpoints endpoints, BrokerMetrics brokerMetrics, ClusterMetrics metrics,
        IHostApplicationLifetime lifetime, TimeProvider time, ILogger<NodeRegistry> logger)
    {
        _cluster = cluster;
        _options = cluster.Options;
        _endpoints = endpoints;
        _brokerMetrics = brokerMetrics;
        _metrics = metrics;
        _lifetime = lifetime;
        _time = time;
        _logger = logger;
        NodeId = cluster.NodeId;
        Incarnation = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
        _startedAt = time.GetUtcNow();
        _version = typeof(NodeRegistry).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        _table = new NodeTable(NodeId, Incarnation, _options.NodeTimeout, time);
    }

    public string NodeId { get; }

    public string Incarnation { get; }

    public IReadOnlyList<ClusterNode> Nodes => _table.Snapshot();

    public bool IsAlive(string nodeId) => _table.IsAlive(nodeId);

    public IDisposable OnNodeDied(Func<ClusterNode, CancellationToken, Task> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        lock (_handlersGate)
        {
            _handlers = [.. _handlers, handler];
        }

        return new Unsubscriber(this, handler);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var store = await OpenBucketAsync(stoppingToken).ConfigureAwait(false);
        await ReadPredecessorAsync(store, stoppingToken).ConfigureAwait(false);
        await HeartbeatAsync(store, stoppingToken).ConfigureAwait(false);
        NodesLog.Joined(_logger, NodeId, Incarnation, Bucket, (long)_options.HeartbeatInterval.TotalMilliseconds, (long)_options.NodeTimeout.TotalMilliseconds);
        await Task.WhenAll(
            WatchAsync(store, stoppingToken),
            ClaimAsync(store, stoppingToken),
            BeatAsync(store, stoppingToken)).ConfigureAwait(false);
    }

    /// <summary>Creates or updates the bucket (several nodes may do it at once: the same config is idempotent), trying again until JetStream answers.</summary>
    private async Task<INatsKVStore> OpenBucketAsync(CancellationToken cancellationToken)
    {
        var config = new NatsKVConfig(Bucket)
        {
            Description = "Iot cluster nodes: node.{id} heartbeat records, claim.{id}.{incarnation} dead-node claims",
            History = 1,
            MaxAge = NodeTable.ForgetAfter,
            NumberOfReplicas = _options.Replicas,
            Storage = NatsKVStorageType.File,
        };
        while (true)
        {
            try
            {
                return await _cluster.KeyValue.CreateOrUpdateStoreAsync(config, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (IsTransient(ex, cancellationToken))
            {
                NodesLog.HeartbeatFailed(_logger, NodeId, ++_heartbeatFailures, ex.Message);
                _metrics.HeartbeatFailed();
                await Task.Delay(_options.HeartbeatInterval, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The record of this node id's previous run, if any: it died when this run started (handled at once, not after the timeout).</summary>
    private async Task ReadPredecessorAsync(INatsKVStore store, CancellationToken cancellationToken)
    {
        try
        {
            var previous = await store.TryGetEntryAsync<byte[]>(Key(NodeId), cancellationToken: cancellationToken).ConfigureAwait(false);
            if (previous.Success && previous.Value.Value is { } json && NodeRecord.FromJson(json) is { } record && record.Incarnation != Incarnation)
            {
                _table.Observe(record, []);
            }
        }
        catch (Exception ex) when (IsTransient(ex, cancellationToken))
        {
            // The watch brings the record anyway; only a restart within the timeout is then noticed after it.
            NodesLog.WatchFailed(_logger, ex.Message);
        }
    }

    private async Task BeatAsync(INatsKVStore store, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(_options.HeartbeatInterval, _time);
        var died = new List<NodeRecord>();
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
        {
            await HeartbeatAsync(store, cancellationToken).ConfigureAwait(false);
            _table.Sweep(died);
            Report(died);
        }
    }

    /// <summary>Writes this node's record; a failure is counted and logged (the first of a run and every 10th), never thrown.</summary>
    private async Task HeartbeatAsync(INatsKVStore store, CancellationToken cancellationToken)
    {
        var bound = _endpoints.Bound.IsCompleted;
        var record = new NodeRecord(NodeId, Incarnation, _startedAt, _time.GetUtcNow(), _version, Environment.MachineName,
            bound ? _endpoints.MqttPort : null, bound ? _endpoints.MqttTlsPort : null, bound ? _endpoints.HttpPort : null, _brokerMetrics.Connections);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.RequestTimeout);
            await store.PutAsync(Key(NodeId), record.ToJson(), cancellationToken: timeout.Token).ConfigureAwait(false);
            if (_heartbeatFailures > 0)
            {
                NodesLog.HeartbeatRecovered(_logger, NodeId, _heartbeatFailures);
                _heartbeatFailures = 0;
            }
        }
        catch (Exception ex) when (IsTransient(ex, cancellationToken))
        {
            _metrics.HeartbeatFailed();
            if (_heartbeatFailures++ % 10 == 0)
            {
                NodesLog.HeartbeatFailed(_logger, NodeId, _heartbeatFailures, ex.Message);
            }
        }
    }

    /// <summary>Follows every node record (an ordered consumer of the bucket: one per node, not per session); starts again after a failure.</summary>
    private async Task WatchAsync(INatsKVStore store, CancellationToken cancellationToken)
    {
        var died = new List<NodeRecord>();
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var entry in store.WatchAsync<byte[]>("node.*", opts: WatchHeartbeat.Options, cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    if (entry.Operation is NatsKVOperation.Del or NatsKVOperation.Purge)
                    {
                        _table.Remove(entry.Key["node.".Length..]);
                    }
                    else if (entry.Value is { } json && NodeRecord.FromJson(json) is { } record && _table.Observe(record, died))
                    {
                        NodesLog.NodeAlive(_logger, record.NodeId, record.Incarnation);
                    }

                    Report(died);
                }
            }
            catch (Exception ex) when (IsTransient(ex, cancellationToken))
            {
                NodesLog.WatchFailed(_logger, ex.Message);
                await Task.Delay(_options.HeartbeatInterval, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private void Report(List<NodeRecord> died)
    {
        foreach (var record in died)
        {
            NodesLog.NodeDead(_logger, record.NodeId, record.Incarnation, record.HeartbeatAt);
            _deaths.Writer.TryWrite(record);
        }

        died.Clear();
    }

    /// <summary>Claims each dead incarnation once the host has started (every handler is registered by then) and runs the handlers when this node won.</summary>
    private async Task ClaimAsync(INatsKVStore store, CancellationToken cancellationToken)
    {
        await WhenStartedAsync(cancellationToken).ConfigureAwait(false);
        while (await _deaths.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (_deaths.Reader.TryRead(out var dead))
            {
                if (await TryClaimAsync(store, dead, cancellationToken).ConfigureAwait(false))
                {
                    _metrics.Claimed();
                    NodesLog.Claimed(_logger, dead.NodeId, dead.Incarnation);
                    await RunHandlersAsync(dead.ToNode(alive: false, self: false), cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    NodesLog.ClaimedElsewhere(_logger, dead.NodeId, dead.Incarnation);
                }
            }
        }
    }

    /// <summary>True when this node holds the claim on <paramref name="dead"/>: it created the key, or finds its own
    /// claim there (a create whose answer was lost); false when another node's claim is there. Tries again on errors.</summary>
    private async Task<bool> TryClaimAsync(INatsKVStore store, NodeRecord dead, CancellationToken cancellationToken)
    {
        var key = $"claim.{dead.NodeId}.{dead.Incarnation}";
        var claim = new NodeClaim(NodeId, Incarnation, _time.GetUtcNow());
        while (true)
        {
            try
            {
                var created = await store.TryCreateExclusiveAsync(key, claim.ToJson(), cancellationToken).ConfigureAwait(false);
                if (created.Success)
                {
                    return true;
                }

                if (created.Error is not NatsKVCreateException)
                {
                    throw created.Error;
                }

                var existing = await store.GetEntryAsync<byte[]>(key, cancellationToken: cancellationToken).ConfigureAwait(false);
                return existing.Value is { } json && NodeClaimIsOurs(json);
            }
            catch (Exception ex) when (IsTransient(ex, cancellationToken))
            {
                NodesLog.ClaimFailed(_logger, dead.NodeId, dead.Incarnation, ex.Message);
                await Task.Delay(_options.HeartbeatInterval, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private bool NodeClaimIsOurs(byte[] json)
    {
        try
        {
            var claim = System.Text.Json.JsonSerializer.Deserialize(json, NodesJsonContext.Default.NodeClaim);
            return claim is not null && claim.ClaimedBy == NodeId && claim.ClaimerIncarnation == Incarnation;
        }
        catch (System.Text.Json.JsonException)
        {
            return false;
        }
    }

    private async Task RunHandlersAsync(ClusterNode dead, CancellationToken cancellationToken)
    {
        Func<ClusterNode, CancellationToken, Task>[] handlers;
        lock (_handlersGate)
        {
            handlers = _handlers;
        }

        foreach (var handler in handlers)
        {
            try
            {
                await handler(dead, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                NodesLog.HandlerFailed(_logger, dead.NodeId, dead.Incarnation, ex);
            }
        }
    }

    private async Task WhenStartedAsync(CancellationToken cancellationToken)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (_lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        {
            await started.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static bool IsTransient(Exception ex, CancellationToken cancellationToken) =>
        !cancellationToken.IsCancellationRequested && ex is NatsException or TimeoutException or OperationCanceledException or InvalidOperationException;

    private static string Key(string nodeId) => "node." + nodeId;

    private void Remove(Func<ClusterNode, CancellationToken, Task> handler)
    {
        lock (_handlersGate)
        {
            _handlers = [.. _handlers.Where(h => h != handler)];
        }
    }

    private sealed class Unsubscriber(NodeRegistry registry, Func<ClusterNode, CancellationToken, Task> handler) : IDisposable
    {
        public void Dispose() => registry.Remove(handler);
    }
}
