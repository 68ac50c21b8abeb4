using System.Globalization;
using System.Text;
using Iot.Broker.Hosting;
using Iot.Broker.Mqtt;
using NATS.Client.Core;

namespace Iot.Broker.Cluster.Nodes;

/// <summary><c>GET /api/cluster</c> (the <c>iot_cluster_*</c> metrics are in Hosting/Telemetry/IotInstruments.Layers.cs).</summary>
internal static class ClusterEndpoints
{
    public static IEndpointRouteBuilder MapClusterApi(this IEndpointRouteBuilder api)
    {
        api.MapGet("/cluster", Describe).WithName("GetCluster").WithTags("Cluster")
            .WithSummary("Describes this node and, in cluster mode, every node known and the NATS connection.");
        return api;
    }

    private static ClusterResponse Describe(IServiceProvider services, BrokerEndpoints endpoints, BrokerMetrics metrics, TimeProvider time)
    {
        if (services.GetService<IClusterMembership>() is not { } membership || services.GetService<ClusterConnection>() is not { } cluster)
        {
            // One process: itself, with no NATS.
            var bound = endpoints.Bound.IsCompleted;
            var now = time.GetUtcNow();
            var self = new ClusterNodeResponse(Environment.MachineName, null, true, true, null, now, null, Environment.MachineName,
                bound ? endpoints.MqttPort : null, bound ? endpoints.MqttTlsPort : null, bound ? endpoints.HttpPort : null, metrics.Connections);
            return new ClusterResponse("single", Environment.MachineName, null, null, false, [self]);
        }

        var nats = cluster.Nats;
        var info = nats.ServerInfo;
        var natsState = new NatsStateResponse(
            nats.ConnectionState == NatsConnectionState.Open,
            nats.ConnectionState.ToString(),
            info is null ? null : $"{info.Host}:{info.Port}",
            info?.Name,
            info?.Version);
        var nodes = membership.Nodes.Select(ClusterNodeResponse.From).ToList();
        var cutOff = services.GetService<ClusterMetrics>()?.IsCutOff ?? false;
        return new ClusterResponse("cluster", membership.NodeId, membership.Incarnation, natsState, cutOff, nodes);
    }
}

/// <summary>The answer of <c>GET /api/cluster</c>.</summary>
/// <param name="Mode"><c>single</c> (one process, embedded storage) or <c>cluster</c>.</param>
/// <param name="NodeId">This node's id (the machine name in single mode).</param>
/// <param name="Incarnation">This run of this node (cluster mode).</param>
/// <param name="Nats">The NATS connection (cluster mode).</param>
/// <param name="CutOff">This node is cut off from NATS: its clients were closed and CONNECTs are refused.</param>
/// <param name="Nodes">Every node known, by node id.</param>
internal sealed record ClusterResponse(string Mode, string NodeId, string? Incarnation, NatsStateResponse? Nats, bool CutOff, IReadOnlyList<ClusterNodeResponse> Nodes);

/// <summary>The NATS connection.</summary>
/// <param name="Connected">The connection is open.</param>
/// <param name="State"><c>Open</c>, <c>Connecting</c>, <c>Reconnecting</c> or <c>Closed</c>.</param>
/// <param name="Server">The server it is connected to (host:port as the server announces it).</param>
/// <param name="ServerName">That server's name.</param>
/// <param name="ServerVersion">That server's version.</param>
internal sealed record NatsStateResponse(bool Connected, string State, string? Server, string? ServerName, string? ServerVersion);

/// <summary>One node.</summary>
internal sealed record ClusterNodeResponse(string NodeId, string? Incarnation, bool Alive, bool Self, DateTimeOffset? StartedAt, DateTimeOffset HeartbeatAt,
    string? Version, string? Host, int? MqttPort, int? MqttTlsPort, int? HttpPort, long Connections)
{
    public static ClusterNodeResponse From(ClusterNode n) =>
        new(n.NodeId, n.Incarnation, n.Alive, n.Self, n.StartedAt, n.HeartbeatAt, n.Version, n.Host, n.MqttPort, n.MqttTlsPort, n.HttpPort, n.Connections);
}
