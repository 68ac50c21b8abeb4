namespace Iot.Broker.Cluster.Nodes;

/// <summary>
/// This node's view of the node records (<see cref="NodeRecord"/>) and who is alive: owns the records and when each
/// was last seen changing, on <see cref="TimeProvider"/>'s clock. Guarded by <c>_gate</c> (a leaf: nothing is called
/// under it).
/// </summary>
/// <remarks>
/// Liveness is judged on this node's clock only (no clock comparison between machines): a node is dead when this
/// node's own record has come through the watch more than <see cref="ClusterOptions.NodeTimeout"/> after the other
/// node's record last changed. Measuring against our own record, not against "now", means a node that stops
/// receiving the watch (cut off from NATS) declares nobody dead: it has not seen its own heartbeats either.
/// </remarks>
internal sealed class NodeTable(string selfId, string selfIncarnation, TimeSpan nodeTimeout, TimeProvider time)
{
    /// <summary>A dead node's record is forgotten this long after it was last seen (the bucket's own max age).</summary>
    public static readonly TimeSpan ForgetAfter = TimeSpan.FromDays(1);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _nodes = new(StringComparer.Ordinal);

    // TimeProvider timestamp when this incarnation's own record last came through the watch; 0: not yet.
    private long _selfSeenAt;

    /// <summary>Takes a record from the watch (or the predecessor read at start). Adds to <paramref name="died"/> the
    /// incarnation it replaces when that one was not dead yet (a node restarted within the timeout). True when the
    /// record's incarnation was unknown or dead until now (it is alive from now on).</summary>
    public bool Observe(NodeRecord record, List<NodeRecord> died)
    {
        var now = time.GetTimestamp();
        lock (_gate)
        {
            if (record.NodeId == selfId && record.Incarnation == selfIncarnation)
            {
                _selfSeenAt = now;
            }

            if (!_nodes.TryGetValue(record.NodeId, out var entry))
            {
                _nodes.Add(record.NodeId, new Entry(record, now));
                return true;
            }

            if (entry.Record.Incarnation != record.Incarnation)
            {
                if (record.StartedAt < entry.Record.StartedAt)
                {
                    // An older run writing after a newer one: two processes with one node id. The newer one stays.
                    return false;
                }

                if (!entry.Dead)
                {
                    died.Add(entry.Record);
                }
            }

            var revived = entry.Dead || entry.Record.Incarnation != record.Incarnation;
            entry.Record = record;
            entry.SeenAt = now;
            entry.Dead = false;
            return revived;
        }
    }

    /// <summary>A record deleted or purged from the bucket (by an operator): the node is forgotten, not declared dead.</summary>
    public void Remove(string nodeId)
    {
        lock (_gate)
        {
            if (nodeId != selfId)
            {
                _nodes.Remove(nodeId);
            }
        }
    }

    /// <summary>Marks dead every node not seen for <see cref="ClusterOptions.NodeTimeout"/> (adding it to
    /// <paramref name="died"/>) and forgets those dead for <see cref="ForgetAfter"/>.</summary>
    public void Sweep(List<NodeRecord> died)
    {
        var now = time.GetTimestamp();
        lock (_gate)
        {
            if (_selfSeenAt == 0)
            {
                return;
            }

            List<string>? forget = null;
            foreach (var (id, entry) in _nodes)
            {
                if (IsSelf(entry))
                {
                    continue;
                }

                if (!entry.Dead && time.GetElapsedTime(entry.SeenAt, _selfSeenAt) > nodeTimeout)
                {
                    entry.Dead = true;
                    died.Add(entry.Record);
                }
                else if (entry.Dead && time.GetElapsedTime(entry.SeenAt, now) > ForgetAfter)
                {
                    (forget ??= []).Add(id);
                }
            }

            foreach (var id in forget ?? [])
            {
                _nodes.Remove(id);
            }
        }
    }

    /// <summary>Whether the latest incarnation of <paramref name="nodeId"/> is alive.</summary>
    public bool IsAlive(string nodeId)
    {
        lock (_gate)
        {
            return nodeId == selfId || (_nodes.TryGetValue(nodeId, out var entry) && !entry.Dead);
        }
    }

    /// <summary>Every node known, by id; this node is always alive in its own view.</summary>
    public IReadOnlyList<ClusterNode> Snapshot()
    {
        lock (_gate)
        {
            var nodes = new List<ClusterNode>(_nodes.Count);
            foreach (var entry in _nodes.Values)
            {
                var self = IsSelf(entry);
                nodes.Add(entry.Record.ToNode(self || !entry.Dead, self));
            }

            nodes.Sort(static (a, b) => string.CompareOrdinal(a.NodeId, b.NodeId));
            return nodes;
        }
    }

    private bool IsSelf(Entry entry) => entry.Record.NodeId == selfId && entry.Record.Incarnation == selfIncarnation;

    private sealed class Entry(NodeRecord record, long seenAt)
    {
        public NodeRecord Record { get; set; } = record;

        public long SeenAt { get; set; } = seenAt;

        public bool Dead { get; set; }
    }
}
