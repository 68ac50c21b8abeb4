namespace Iot.Broker.Cluster.Nodes;

/// <summary>
/// The nodes of the cluster as this node sees them (docs/cluster.md, "Nodes"): every node writes its record to the
/// <c>iot-nodes</c> bucket every <see cref="ClusterOptions.HeartbeatInterval"/>; one whose record has not changed for
/// <see cref="ClusterOptions.NodeTimeout"/> is dead. Registered only in cluster mode.
/// </summary>
internal interface IClusterMembership
{
    /// <summary>This node's id (<see cref="ClusterOptions.NodeId"/>).</summary>
    string NodeId { get; }

    /// <summary>This run of this node: a new value each time the process starts, so a restarted node is a new incarnation.</summary>
    string Incarnation { get; }

    /// <summary>A snapshot of every node known (this one included), by node id; a node id appears once, with its latest incarnation.</summary>
    IReadOnlyList<ClusterNode> Nodes { get; }

    /// <summary>Whether the latest incarnation of <paramref name="nodeId"/> is alive (false for an unknown id).</summary>
    bool IsAlive(string nodeId);

    /// <summary>
    /// Calls <paramref name="handler"/> when a node incarnation died and this node won the claim on it: for each dead
    /// incarnation exactly one live node runs its handlers (a key-value create on <c>claim.{node}.{incarnation}</c>).
    /// An incarnation dies when its heartbeat is older than <see cref="ClusterOptions.NodeTimeout"/>, or at once when the
    /// same node id comes back as a new incarnation. Handlers run one after another on a background loop, never under a
    /// lock and never before the host has started; an exception is logged and does not stop the others. Dispose the
    /// result to stop receiving.
    /// </summary>
    IDisposable OnNodeDied(Func<ClusterNode, CancellationToken, Task> handler);
}

/// <summary>One node incarnation as this node sees it.</summary>
/// <param name="NodeId">Its id.</param>
/// <param name="Incarnation">Its run (new at each start).</param>
/// <param name="Alive">False when its heartbeat is older than <see cref="ClusterOptions.NodeTimeout"/> or it restarted.</param>
/// <param name="Self">This node.</param>
/// <param name="StartedAt">When it started (its clock).</param>
/// <param name="HeartbeatAt">Its last heartbeat (its clock).</param>
/// <param name="Version">Its broker version.</param>
/// <param name="Host">Its machine name.</param>
/// <param name="MqttPort">Its MQTT over TCP port; null when off or not yet bound.</param>
/// <param name="MqttTlsPort">Its MQTT over TLS port; null when off.</param>
/// <param name="HttpPort">Its HTTP port; null until bound.</param>
/// <param name="Connections">Its open MQTT connections at its last heartbeat.</param>
internal sealed record ClusterNode(
    string NodeId,
    string Incarnation,
    bool Alive,
    bool Self,
    DateTimeOffset StartedAt,
    DateTimeOffset HeartbeatAt,
    string? Version,
    string? Host,
    int? MqttPort,
    int? MqttTlsPort,
    int? HttpPort,
    long Connections);
