using Iot.Messaging.Topics;

namespace Iot.Broker.Mqtt;

/// <summary>
/// Every subscription of every session in one topic tree, so that a publish costs a walk of the topic's levels,
/// not a scan of the sessions. Shared subscriptions are one tree entry per (share name, filter) holding the members.
/// </summary>
internal sealed class SubscriptionIndex
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
            var session = subscription.Session;
            var isNew = true;
            var subscriptions = session.SubscriptionsForUpdate;
            if (subscriptions.Remove(subscription.Filter, out var previous))
            {
                RemoveLocked(previous);
                isNew = false;
            }

            subscriptions[subscription.Filter] = subscription;
            if (subscription.ShareName is { } share)
            {
                var key = (share, subscription.TopicFilter);
                if (!_groups.TryGetValue(key, out var group))
                {
                    group = new SharedGroup { ShareName = share, TopicFilter = subscription.TopicFilter };
                    _groups[key] = group;
                    _tree.Add(subscription.TopicFilter, group);
                }

                group.AddOrReplace(subscription);
            }
            else
            {
                _tree.Add(subscription.TopicFilter, subscription);
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
            if (session.Subscriptions is not { } subscriptions || !subscriptions.Remove(filter, out var subscription))
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
            if (session.Subscriptions is not { } subscriptions)
            {
                return;
            }

            foreach (var subscription in subscriptions.Values)
            {
                RemoveLocked(subscription);
            }

            session.ClearSubscriptions();
        }
    }

    /// <summary>A copy of the subscriptions of <paramref name="session"/>, to inspect without holding the index's lock.</summary>
    public Subscription[] Snapshot(MqttSession session)
    {
        lock (_gate)
        {
            return session.Subscriptions is { } subscriptions ? [.. subscriptions.Values] : [];
        }
    }

    /// <summary>True when <paramref name="session"/> has a non-shared subscription matching <paramref name="topic"/>.</summary>
    public bool HasMatchingSubscription(MqttSession session, string topic)
    {
        lock (_gate)
        {
            if (session.Subscriptions is not { } subscriptions)
            {
                return false;
            }

            foreach (var subscription in subscriptions.Values)
            {
                if (subscription.ShareName is null && TopicNames.Matches(topic, subscription.TopicFilter))
                {
                    return true;
                }
            }

            return false;
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
            }
        }
        else
        {
            _tree.Remove(subscription.TopicFilter, subscription);
        }
    }
}
