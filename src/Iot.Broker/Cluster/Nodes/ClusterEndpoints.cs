using System.Globalization;
using System.Text;
using Iot.Broker.Hosting;
using Iot.Broker.Mqtt;
using NATS.Client.Core;

namespace Iot.Broker.Cluster.Nodes;

/// <summary><c>GET /api/cluster</c> and the <c>iot_cluster_*</c> lines of <c>/metrics</c> (docs/api.md).</summary>
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

    /// <summary>The cluster lines of <c>/metrics</c>; empty in single-process mode.</summary>
    public static string RenderMetrics(IServiceProvider services)
    {
        if (services.GetService<IClusterMembership>() is not { } membership || services.GetService<ClusterConnection>() is not { } cluster
            || services.GetService<ClusterMetrics>() is not { } metrics)
        {
            return string.Empty;
        }

        int alive = 0, dead = 0;
        foreach (var node in membership.Nodes)
        {
            _ = node.Alive ? alive++ : dead++;
        }

        var text = new StringBuilder(1024);
        text.Append("# HELP iot_cluster_nodes Cluster nodes this node knows, by state (dead: no heartbeat for Iot:Cluster:NodeTimeout).\n# TYPE iot_cluster_nodes gauge\n");
        text.Append(CultureInfo.InvariantCulture, $"iot_cluster_nodes{{state=\"alive\"}} {alive}\niot_cluster_nodes{{state=\"dead\"}} {dead}\n");
        Metric(text, "iot_cluster_nats_connected", "1 while the connection to NATS is open, else 0.", "gauge", cluster.Nats.ConnectionState == NatsConnectionState.Open ? 1 : 0);
        Metric(text, "iot_cluster_nats_disconnects_total", "Times the connection to NATS was lost.", "counter", metrics.NatsDisconnects);
        Metric(text, "iot_cluster_heartbeat_failures_total", "Heartbeats of this node that could not be written to NATS.", "counter", metrics.HeartbeatFailures);
        Metric(text, "iot_cluster_cut_off", "1 while this node is cut off from NATS (clients closed, CONNECTs refused), else 0.", "gauge", metrics.IsCutOff ? 1 : 0);
        Metric(text, "iot_cluster_cut_offs_total", "Times this node was cut off from NATS for longer than Iot:Cluster:CutOffTimeout.", "counter", metrics.CutOffs);
        Metric(text, "iot_cluster_cut_off_closed_total", "MQTT connections closed because this node was cut off from NATS.", "counter", metrics.CutOffClosed);
        Metric(text, "iot_cluster_node_claims_total", "Dead node incarnations this node claimed (it took over their wills and session expiry).", "counter", metrics.Claims);
        if (services.GetService<Leases.LeaseMetrics>() is { } leases)
        {
            Metric(text, "iot_cluster_leases_held", "Singleton leases this node holds now (aggregation windows x partitions, InfluxDB sink partitions, webhook loops).", "gauge", leases.Held);
            Metric(text, "iot_cluster_lease_takeovers_total", "Singleton leases this node took over from a node that stopped renewing them.", "counter", leases.Takeovers);
            Metric(text, "iot_cluster_leases_lost_total", "Singleton leases this node lost while its work ran (renewal refused or not stored within Iot:Cluster:LeaseDuration minus Iot:Cluster:LeaseSafetyMargin).", "counter", leases.Lost);
            Metric(text, "iot_cluster_lease_renew_failures_total", "Lease renewals NATS did not store in time (the lease is kept until the give-up time).", "counter", leases.RenewFailures);
        }

        return text.ToString();
    }

    private static void Metric(StringBuilder text, string name, string help, string type, long value) =>
        text.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} {type}\n{name} {value}\n");
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
