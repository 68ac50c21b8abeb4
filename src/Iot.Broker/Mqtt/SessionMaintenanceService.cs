namespace Iot.Broker.Mqtt;

/// <summary>
/// Restores persistent sessions before the listeners accept clients, then once a second expires sessions, publishes
/// delayed wills and closes connections whose keep-alive ran out. At shutdown it closes every connection.
/// </summary>
internal sealed class SessionMaintenanceService(
    SessionManager sessions,
    Security.ConnectRateLimiter connectRate,
    TimeProvider timeProvider,
    ILogger<SessionMaintenanceService> logger) : IHostedService, IAsyncDisposable
{
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

    private void Tick()
    {
        try
        {
            sessions.RunMaintenance();
            connectRate.Prune();
            var now = Environment.TickCount64;
            foreach (var connection in sessions.Connections)
            {
                connection.CheckKeepAlive(now);
            }
        }
        catch (Exception ex)
        {
            BrokerLog.MaintenanceFailed(logger, ex);
        }
    }
}
