using Iot.Broker.Cluster.Live;
using Iot.Broker.Cluster.Nodes;
using Iot.Broker.Mqtt;

namespace Iot.Broker.Cluster.Sessions;

/// <summary>
/// <see cref="IClusterFanOut"/>: the persistent sessions' queues (<see cref="PersistentSubscriptions"/>) and the shared
/// groups. For each matching group this node picks one member among all of the group's members in the cluster
/// (<see cref="SharedGroupMembers"/>): a persistent member that takes the message at QoS 1 or 2 gets it in its JetStream
/// queue, connected or not, before the publisher's acknowledgement; any other member gets it over the live path, sent to
/// its node (<see cref="ILiveLink.SendToMember"/>), at most once like every live message.
/// </summary>
/// <remarks>No lock: the member arrays are copy-on-write and the tree is read lock-free. Per message with no group matched: one tree match.</remarks>
internal sealed class ClusterFanOut : IClusterFanOut
{
    [ThreadStatic]
    private static List<ClusterSharedGroup>? t_groups;

    private readonly PersistentSubscriptions _persistent;
    private readonly SharedGroupMembers _members;
    private readonly ILiveLink _live;
    private readonly Func<string, bool> _isAlive;

    public ClusterFanOut(PersistentSubscriptions persistent, SharedGroupMembers members, ILiveLink live, IClusterMembership membership)
    {
        ArgumentNullException.ThrowIfNull(membership);
        _persistent = persistent;
        _members = members;
        _live = live;
        _isAlive = membership.IsAlive;
    }

    public Task FanOutAsync(BrokerMessage message, string? publisherClientId)
    {
        var queues = message.QualityOfService > 0 ? _persistent.AppendAsync(message, publisherClientId) : Task.CompletedTask;
        var groups = ToGroups(message);
        return groups.IsCompletedSuccessfully ? queues
            : queues.IsCompletedSuccessfully ? groups
            : Task.WhenAll(queues, groups);
    }

    private Task ToGroups(BrokerMessage message)
    {
        var matches = t_groups ??= new List<ClusterSharedGroup>(4);
        matches.Clear();
        _members.Match(message.Topic, matches);
        if (matches.Count == 0)
        {
            return Task.CompletedTask;
        }

        List<Task>? appends = null;
        foreach (var group in matches)
        {
            if (group.Pick(message.QualityOfService, _isAlive) is not { } member)
            {
                // No member connected and none that queues it (a QoS 0 message): dropped, as on one node.
                continue;
            }

            var qos = Math.Min(message.QualityOfService, member.QualityOfService);
            if (qos > 0 && member.Persistent)
            {
                (appends ??= []).Add(_persistent.AppendCopyAsync(member.Key, message, (byte)qos, member.RetainAsPublished && message.Retain,
                    member.SubscriptionIdentifier == 0 ? null : [member.SubscriptionIdentifier]));
            }
            else
            {
                _live.SendToMember(member.Node!, group.Share, group.Filter, member.ClientId, message);
            }
        }

        matches.Clear();
        return appends switch
        {
            null => Task.CompletedTask,
            [var only] => only,
            _ => Task.WhenAll(appends),
        };
    }
}
