namespace Iot.Broker.Cluster.Nodes;

/// <summary>The counters of the node registry and the cut-off, rendered as <c>iot_cluster_*</c> in <c>/metrics</c> (docs/api.md).</summary>
internal sealed class ClusterMetrics
{
    private long _natsDisconnects;
    private long _heartbeatFailures;
    private long _cutOffs;
    private long _cutOffClosed;
    private long _claims;

    /// <summary>Times the NATS connection was lost.</summary>
    public long NatsDisconnects => Volatile.Read(ref _natsDisconnects);

    /// <summary>Heartbeats that could not be written.</summary>
    public long HeartbeatFailures => Volatile.Read(ref _heartbeatFailures);

    /// <summary>Times this node cut itself off (NATS lost for longer than <see cref="ClusterOptions.CutOffTimeout"/>).</summary>
    public long CutOffs => Volatile.Read(ref _cutOffs);

    /// <summary>MQTT connections closed because this node was cut off.</summary>
    public long CutOffClosed => Volatile.Read(ref _cutOffClosed);

    /// <summary>Dead node incarnations this node claimed.</summary>
    public long Claims => Volatile.Read(ref _claims);

    /// <summary>Whether this node is cut off now.</summary>
    public bool IsCutOff { get; set; }

    public void NatsDisconnected() => Interlocked.Increment(ref _natsDisconnects);

    public void HeartbeatFailed() => Interlocked.Increment(ref _heartbeatFailures);

    public void CutOff() => Interlocked.Increment(ref _cutOffs);

    public void ClosedByCutOff(int count) => Interlocked.Add(ref _cutOffClosed, count);

    public void Claimed() => Interlocked.Increment(ref _claims);
}
