using Iot.Messaging.Topics;

namespace Iot.Broker.Cluster.Sessions;

/// <summary>
/// Every member of every shared group (<c>$share/{group}/{filter}</c>) in the cluster, as the session records say: a
/// session's shared subscriptions are in its record in the <c>iot-sessions</c> bucket, clean sessions' included, so the
/// node a message is published on can pick the member itself, whatever node it is on (docs/cluster.md, "Shared
/// subscriptions"). Fed by <see cref="PersistentSubscriptions"/>' watch loop, its only writer; publishers match and pick
/// without a lock.
/// </summary>
internal sealed class SharedGroupMembers
{
    private readonly TopicTree<ClusterSharedGroup> _tree = new();
    private readonly Dictionary<(string Share, string Filter), ClusterSharedGroup> _groups = [];
    private readonly Dictionary<string, (string Share, string Filter)[]> _byKey = new(StringComparer.Ordinal);

    /// <summary>The groups with at least one member (for tests and diagnostics).</summary>
    public int GroupCount => _groups.Count;

    /// <summary>Adds to <paramref name="results"/> every group whose filter matches <paramref name="topic"/>.</summary>
    public void Match(string topic, List<ClusterSharedGroup> results) => _tree.Match(topic, results);

    /// <summary>
    /// Brings the groups in line with the record under <paramref name="key"/> (null: the record is gone). The watch loop
    /// only: a member is replaced, not removed and added again, so a publish in between always finds it.
    /// </summary>
    public void Apply(string key, SessionRecord? record)
    {
        var now = new List<(string Share, string Filter)>();
        if (record is not null)
        {
            foreach (var subscription in record.Subscriptions)
            {
                if (!TopicNames.TryParseSharedSubscription(subscription.Filter, out var share, out var filter))
                {
                    continue;
                }

                var group = GroupFor(share, filter);
                group.AddOrReplace(new SharedMember(
                    key, record.ClientId, record.Node, record.Connected, record.ExpirySeconds > 0,
                    subscription.QualityOfService, subscription.RetainAsPublished, subscription.SubscriptionIdentifier));
                now.Add((share, filter));
            }
        }

        if (_byKey.Remove(key, out var before))
        {
            foreach (var gone in before)
            {
                if (!now.Contains(gone) && _groups.TryGetValue(gone, out var group) && group.Remove(key))
                {
                    _tree.Remove(gone.Filter, group);
                    _groups.Remove(gone);
                }
            }
        }

        if (now.Count > 0)
        {
            _byKey[key] = [.. now];
        }
    }

    private ClusterSharedGroup GroupFor(string share, string filter)
    {
        if (!_groups.TryGetValue((share, filter), out var group))
        {
            group = new ClusterSharedGroup(share, filter);
            _groups[(share, filter)] = group;
            _tree.Add(filter, group);
        }

        return group;
    }
}

/// <summary>One member of a shared group as its session record says.</summary>
/// <param name="Key">The session's key in the bucket (<see cref="SessionKey.Escape"/>).</param>
/// <param name="ClientId">Its client id.</param>
/// <param name="Node">The node its session is bound to; null when none.</param>
/// <param name="Connected">A connection is attached on <paramref name="Node"/>.</param>
/// <param name="Persistent">Its session outlives its connection: QoS 1/2 messages go to its JetStream queue.</param>
/// <param name="QualityOfService">The QoS granted to its subscription.</param>
/// <param name="RetainAsPublished">MQTT 5 Retain As Published.</param>
/// <param name="SubscriptionIdentifier">Its MQTT 5 subscription identifier; 0 when none.</param>
internal sealed record SharedMember(
    string Key, string ClientId, string? Node, bool Connected, bool Persistent, byte QualityOfService, bool RetainAsPublished, uint SubscriptionIdentifier);

/// <summary>
/// One shared group (share name and filter) across the cluster: its members, copy-on-write (one writer, the watch loop),
/// and the round robin of this node's picks.
/// </summary>
internal sealed class ClusterSharedGroup(string share, string filter)
{
    private SharedMember[] _members = [];
    private uint _next;

    public string Share { get; } = share;

    public string Filter { get; } = filter;

    public IReadOnlyList<SharedMember> Members => Volatile.Read(ref _members);

    /// <summary>
    /// The member that gets the next message of QoS <paramref name="qos"/>, round robin: a connected member on a live node
    /// first; else a persistent member that takes the message at QoS 1 or 2 (its queue keeps it until it is back, on any
    /// node); null when there is none (a QoS 0 message with no member connected is dropped, as on one node).
    /// </summary>
    public SharedMember? Pick(byte qos, Func<string, bool> isAlive)
    {
        var members = Volatile.Read(ref _members);
        if (members.Length == 0)
        {
            return null;
        }

        // Each candidate looked at takes a turn, so the members skipped (not connected) do not hand their turns to the next.
        SharedMember? queued = null;
        for (var i = 0; i < members.Length; i++)
        {
            var candidate = members[(int)(Interlocked.Increment(ref _next) % (uint)members.Length)];
            if (candidate.Connected && candidate.Node is { } node && isAlive(node))
            {
                return candidate;
            }

            if (queued is null && candidate.Persistent && Math.Min(qos, candidate.QualityOfService) > 0)
            {
                queued = candidate;
            }
        }

        return queued;
    }

    internal void AddOrReplace(SharedMember member)
    {
        var members = _members;
        for (var i = 0; i < members.Length; i++)
        {
            if (string.Equals(members[i].Key, member.Key, StringComparison.Ordinal))
            {
                if (members[i] != member)
                {
                    var copy = (SharedMember[])members.Clone();
                    copy[i] = member;
                    Volatile.Write(ref _members, copy);
                }

                return;
            }
        }

        Volatile.Write(ref _members, [.. members, member]);
    }

    /// <summary>Removes the member of session <paramref name="key"/>; true when the group is then empty.</summary>
    internal bool Remove(string key)
    {
        var members = _members;
        var index = Array.FindIndex(members, m => string.Equals(m.Key, key, StringComparison.Ordinal));
        if (index >= 0)
        {
            Volatile.Write(ref _members, [.. members[..index], .. members[(index + 1)..]]);
        }

        return _members.Length == 0;
    }
}
