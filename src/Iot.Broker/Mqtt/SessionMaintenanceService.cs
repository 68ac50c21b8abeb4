using System.Diagnostics;

namespace Iot.Broker.Mqtt;

/// <summary>
/// Restores persistent sessions before the listeners accept clients, then once a second expires sessions, publishes
/// delayed wills and closes connections whose keep-alive ran out. At shutdown it closes every connection.
/// </summary>
internal sealed class SessionMaintenanceService(
    SessionManager sessions,
    Security.ConnectRateLimiter connectRate,
    BrokerMetrics metrics,
    TimeProvider timeProvider,
    ILogger<SessionMaintenanceService> logger) : IHostedService, IAsyncDisposable
{
    private readonly HeapCompaction _compaction = new(sessions.Options.CompactHeapAfterConnections, sessions.Options.CompactHeapQuietSeconds);
    private bool _startCompacted = !sessions.Options.CompactHeapAtStart;
    private ITimer? _timer;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await sessions.RestoreAsync(cancellationToken).ConfigureAwait(false);
        _timer = timeProvider.CreateTimer(static state => ((SessionMaintenanceService)state!).Tick(), this, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
        }

        foreach (var connection in sessions.Connections)
        {
            connection.Close(MQTTnet.Protocol.MqttDisconnectReasonCode.ServerShuttingDown);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // The store is a container-owned singleton: the container disposes (and drains) it after this service.
        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void CompactHeap()
    {
        var before = Environment.WorkingSet;
        var started = Stopwatch.GetTimestamp();
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        var pause = Stopwatch.GetElapsedTime(started);
        metrics.HeapCompacted(pause);
        BrokerLog.HeapCompacted(logger, metrics.Connections, before >> 20, Environment.WorkingSet >> 20, pause.TotalMilliseconds);
    }

    /// <summary>
    /// <see cref="MqttOptions.CompactHeapAtStart"/>: two collections, so that what start-up left in generations 0 and 1
    /// reaches generation 2 (each collection promotes its survivors by one generation).
    /// </summary>
    private void CompactHeapAtStart()
    {
        _startCompacted = true;
        var started = Stopwatch.GetTimestamp();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        var pause = Stopwatch.GetElapsedTime(started);
        metrics.HeapCompactedAtStart(pause);
        var heapMiB = GC.GetGCMemoryInfo().HeapSizeBytes >> 20;
        BrokerLog.HeapCompactedAtStart(logger, heapMiB, pause.TotalMilliseconds);
    }

    private void Tick()
    {
        try
        {
            if (!_startCompacted)
            {
                CompactHeapAtStart();
            }

            sessions.RunMaintenance();
            connectRate.Prune();
            foreach (var connection in sessions.Connections)
            {
                connection.CheckKeepAlive();
            }

            if (_compaction.OnTick(metrics.Read(BrokerCounter.ConnectionsAccepted)))
            {
                CompactHeap();
            }
        }
        catch (Exception ex)
        {
            BrokerLog.MaintenanceFailed(logger, ex);
        }
    }
}
