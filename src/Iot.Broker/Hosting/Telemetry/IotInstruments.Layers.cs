using System.Diagnostics.Metrics;
using Iot.Broker.Cluster;
using Iot.Broker.Cluster.Leases;
using Iot.Broker.Cluster.Nodes;
using Iot.Routing.Hosting;
using Iot.Streams.Hosting;
using NATS.Client.Core;

namespace Iot.Broker.Hosting.Telemetry;

internal sealed partial class IotInstruments
{
    /// <summary>The routing layer's counters (<see cref="Iot.Routing.Hosting.RoutingMetrics"/>), by their Prometheus names.</summary>
    private void AddRouting(Meter meter)
    {
        if (_services.GetService<RoutingMetrics>() is not { } routing)
        {
            return;
        }

        foreach (var counter in Enum.GetValues<RoutingCounter>())
        {
            meter.CreateObservableCounter(RoutingMetrics.NameOf(counter), () => routing.Read(counter), description: "Routing layer: see docs/api.md.");
        }
    }

    /// <summary>The streams, aggregation and InfluxDB sink families (<see cref="StreamsMetrics"/>): one instrument each, read from one snapshot.</summary>
    private void AddStreams(Meter meter)
    {
        foreach (var (name, type, help) in StreamsMetrics.Families)
        {
            var family = name;
            IEnumerable<Measurement<long>> Observe() => StreamsMetrics.Snapshot(_services)
                .Where(s => s.Name == family)
                .Select(s => new Measurement<long>(s.Value, s.Labels));
            if (type == "counter")
            {
                meter.CreateObservableCounter(name, Observe, description: help);
            }
            else
            {
                meter.CreateObservableUpDownCounter(name, Observe, description: help);
            }
        }
    }

    /// <summary>The node registry, the NATS connection, the cut-off and the leases; cluster mode only.</summary>
    private void AddCluster(Meter meter)
    {
        if (_services.GetService<IClusterMembership>() is not { } membership || _services.GetService<ClusterConnection>() is not { } cluster
            || _services.GetService<ClusterMetrics>() is not { } metrics)
        {
            return;
        }

        meter.CreateObservableUpDownCounter("iot_cluster_nodes", () =>
        {
            long alive = 0, dead = 0;
            foreach (var node in membership.Nodes)
            {
                _ = node.Alive ? alive++ : dead++;
            }

            return new[] { Tagged(alive, "state", "alive"), Tagged(dead, "state", "dead") };
        }, description: "Cluster nodes this node knows, by state (dead: no heartbeat for Iot:Cluster:NodeTimeout).");
        meter.CreateObservableUpDownCounter("iot_cluster_nats_connected", () => cluster.Nats.ConnectionState == NatsConnectionState.Open ? 1L : 0L,
            description: "1 while the connection to NATS is open, else 0.");
        meter.CreateObservableCounter("iot_cluster_nats_disconnects_total", () => metrics.NatsDisconnects, description: "Times the connection to NATS was lost.");
        meter.CreateObservableCounter("iot_cluster_heartbeat_failures_total", () => metrics.HeartbeatFailures,
            description: "Heartbeats of this node that could not be written to NATS.");
        meter.CreateObservableUpDownCounter("iot_cluster_cut_off", () => metrics.IsCutOff ? 1L : 0L,
            description: "1 while this node is cut off from NATS (clients closed, CONNECTs refused), else 0.");
        meter.CreateObservableCounter("iot_cluster_cut_offs_total", () => metrics.CutOffs,
            description: "Times this node was cut off from NATS for longer than Iot:Cluster:CutOffTimeout.");
        meter.CreateObservableCounter("iot_cluster_cut_off_closed_total", () => metrics.CutOffClosed,
            description: "MQTT connections closed because this node was cut off from NATS.");
        meter.CreateObservableCounter("iot_cluster_node_claims_total", () => metrics.Claims,
            description: "Dead node incarnations this node claimed (it took over their wills and session expiry).");
        if (_services.GetService<LeaseMetrics>() is { } leases)
        {
            meter.CreateObservableUpDownCounter("iot_cluster_leases_held", () => leases.Held,
                description: "Singleton leases this node holds now (aggregation windows x partitions, InfluxDB sink partitions, webhook loops).");
            meter.CreateObservableCounter("iot_cluster_lease_takeovers_total", () => leases.Takeovers,
                description: "Singleton leases this node took over from a node that stopped renewing them.");
            meter.CreateObservableCounter("iot_cluster_leases_lost_total", () => leases.Lost,
                description: "Singleton leases this node lost while its work ran (renewal refused or not stored within Iot:Cluster:LeaseDuration minus Iot:Cluster:LeaseSafetyMargin).");
            meter.CreateObservableCounter("iot_cluster_lease_renew_failures_total", () => leases.RenewFailures,
                description: "Lease renewals NATS did not store in time (the lease is kept until the give-up time).");
        }
    }
}
