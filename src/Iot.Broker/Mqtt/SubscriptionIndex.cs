using Iot.Broker.Cluster.Live;
using Iot.Messaging.Topics;

namespace Iot.Broker.Mqtt;

/// <summary>
/// Every subscription of every session in one topic tree, so that a publish costs a walk of the topic's levels,
/// not a scan of the sessions. Shared subscriptions are one tree entry per (share name, filter) holding the members.
/// </summary>
/// <remarks>
/// Its lock guards the tree's changes and the shared groups; matching reads the tree without it. Each session owns its
/// map of subscriptions under its own lock; the index changes a session's map only through the session, holding its
/// own lock first (the lock order: index, then session, then <see cref="SharedGroup"/>'s), so that the tree and the
/// maps change together. In cluster mode an <see cref="ISubscriptionObserver"/> is told, under the lock, which filters the
/// tree holds (its own lock is a leaf after the index's).
/// </remarks>
internal sealed class SubscriptionIndex(ISubscriptionObserver? observer = null)
{
    private readonly TopicTree<IndexEntry> _tree = new();
    private readonly Dictionary<(string Share, string Filter), SharedGroup> _groups = [];
    private readonly Lock _gate = new();
    private int _count;

    public int Count => Volatile.Read(ref _count);

    /// <summary>Adds or replaces a subscription of <see cref="Subscription.Session"/>; true when it is new.</summary>
    public bool Subscribe(Subscription subscription)
    {
        lock (_gate)
        {
            var isNew = true;
            if (subscription.Session.SetSubscription(subscription) is { } previous)
            {
                RemoveLocked(previous);
                isNew = false;
            }

            if (subscription.ShareName is { } share)
            {
                var key = (share, subscription.TopicFilter);
                if (!_groups.TryGetValue(key, out var group))
                {
                    group = new SharedGroup { ShareName = share, TopicFilter = subscription.TopicFilter };
                    _groups[key] = group;
                    _tree.Add(subscription.TopicFilter, group);
                    observer?.GroupAdded(group);
                }

                group.AddOrReplace(subscription);
            }
            else
            {
                _tree.Add(subscription.TopicFilter, subscription);
                observer?.FilterAdded(subscription.TopicFilter);
            }

            _count++;
            return isNew;
        }
    }

    /// <summary>Removes the subscription of <paramref name="session"/> with exactly <paramref name="filter"/>; false when none.</summary>
    public bool Unsubscribe(MqttSession session, string filter)
    {
        lock (_gate)
        {
            if (session.RemoveSubscription(filter) is not { } subscription)
            {
                return false;
            }

            RemoveLocked(subscription);
            return true;
        }
    }

    /// <summary>Removes every subscription of a session that ends.</summary>
    public void RemoveAll(MqttSession session)
    {
        lock (_gate)
        {
            foreach (var subscription in session.TakeSubscriptions())
            {
                RemoveLocked(subscription);
            }
        }
    }

    /// <summary>Appends the entries whose filter matches <paramref name="topic"/>.</summary>
    public void Match(string topic, List<IndexEntry> results) => _tree.Match(topic, results);

    private void RemoveLocked(Subscription subscription)
    {
        _count--;
        if (subscription.ShareName is { } share)
        {
            var key = (share, subscription.TopicFilter);
            if (_groups.TryGetValue(key, out var group) && group.Remove(subscription.Session))
            {
                _groups.Remove(key);
                _tree.Remove(subscription.TopicFilter, group);
                observer?.GroupRemoved(group);
            }
        }
        else
        {
            _tree.Remove(subscription.TopicFilter, subscription);
            observer?.FilterRemoved(subscription.TopicFilter);
        }
    }
}
