using Iot.Broker.Mqtt;
using NATS.Client.Core;

namespace Iot.Broker.Cluster.Nodes;

/// <summary>Feeds the NATS connection's events to <see cref="NatsCutOff"/>, which closes and refuses this node's MQTT clients through <see cref="ConnectionServices"/>.</summary>
internal sealed class NatsCutOffService : IHostedService, IDisposable
{
    private readonly ClusterConnection _cluster;
    private readonly NatsCutOff _cutOff;

    public NatsCutOffService(ClusterConnection cluster, ConnectionServices broker, ClusterMetrics metrics, TimeProvider time, ILogger<NatsCutOffService> logger)
    {
        _cluster = cluster;
        _cutOff = new NatsCutOff(cluster.Options.CutOffTimeout, time, metrics, logger,
            refuse => broker.Admission.Unavailable = refuse,
            () => CloseAll(broker));
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _cluster.Nats.ConnectionDisconnected += OnDisconnected;
        _cluster.Nats.ConnectionOpened += OnOpened;
        if (_cluster.Nats.ConnectionState != NatsConnectionState.Open)
        {
            _cutOff.Disconnected();
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _cluster.Nats.ConnectionDisconnected -= OnDisconnected;
        _cluster.Nats.ConnectionOpened -= OnOpened;
        return Task.CompletedTask;
    }

    public void Dispose() => _cutOff.Dispose();

    /// <summary>DISCONNECT 0x9C (Use another server) to MQTT 5 clients: 0x88 is a CONNACK code only, and another node
    /// behind the load balancer can serve the client now. MQTT 3.1.1 clients are closed.</summary>
    private static int CloseAll(ConnectionServices broker)
    {
        var closed = 0;
        foreach (var connection in broker.Sessions.Connections)
        {
            connection.Close(MQTTnet.Protocol.MqttDisconnectReasonCode.UseAnotherServer);
            closed++;
        }

        return closed;
    }

    private ValueTask OnDisconnected(object? sender, NatsEventArgs args)
    {
        _cutOff.Disconnected();
        return ValueTask.CompletedTask;
    }

    private ValueTask OnOpened(object? sender, NatsEventArgs args)
    {
        _cutOff.Connected();
        return ValueTask.CompletedTask;
    }
}
