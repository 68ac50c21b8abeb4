using Iot.Messaging.Topics;

namespace Iot.Broker.Mqtt;

/// <summary>
/// The session's subscriptions by filter as subscribed. The session owns them under its own lock; only
/// <see cref="SubscriptionIndex"/> changes them (holding its lock, which comes before the session's), so that the
/// index's topic tree and every session's map change together.
/// </summary>
internal sealed partial class MqttSession
{
    // Created by the first SUBSCRIBE (a session that never subscribes holds none); null while there are none.
    private Dictionary<string, Subscription>? _subscriptions;

    /// <summary>The number of subscriptions.</summary>
    public int SubscriptionCount
    {
        get
        {
            lock (_gate)
            {
                return _subscriptions?.Count ?? 0;
            }
        }
    }

    /// <summary>Whether the session has a subscription with exactly <paramref name="filter"/>.</summary>
    public bool HasSubscription(string filter)
    {
        lock (_gate)
        {
            return _subscriptions?.ContainsKey(filter) == true;
        }
    }

    /// <summary>True when the session has a non-shared subscription that matches <paramref name="topic"/> and may deliver it.</summary>
    public bool HasMatchingSubscription(string topic)
    {
        lock (_gate)
        {
            if (_subscriptions is not { } subscriptions)
            {
                return false;
            }

            foreach (var subscription in subscriptions.Values)
            {
                if (subscription.ShareName is null && TopicNames.Matches(topic, subscription.TopicFilter) && subscription.MayDeliver(topic))
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>A copy of the subscriptions, to inspect without holding a lock.</summary>
    public Subscription[] SnapshotSubscriptions()
    {
        lock (_gate)
        {
            return _subscriptions is { } subscriptions ? [.. subscriptions.Values] : [];
        }
    }

    /// <summary>Adds or replaces the subscription of its filter; returns the one replaced. Called by the index only.</summary>
    internal Subscription? SetSubscription(Subscription subscription)
    {
        lock (_gate)
        {
            var subscriptions = _subscriptions ??= new(StringComparer.Ordinal);
            subscriptions.Remove(subscription.Filter, out var previous);
            subscriptions[subscription.Filter] = subscription;
            return previous;
        }
    }

    /// <summary>Removes the subscription of <paramref name="filter"/>; null when none. Called by the index only.</summary>
    internal Subscription? RemoveSubscription(string filter)
    {
        lock (_gate)
        {
            return _subscriptions is { } subscriptions && subscriptions.Remove(filter, out var removed) ? removed : null;
        }
    }

    /// <summary>Removes and returns every subscription (the session ends). Called by the index only.</summary>
    internal Subscription[] TakeSubscriptions()
    {
        lock (_gate)
        {
            Subscription[] taken = _subscriptions is { } subscriptions ? [.. subscriptions.Values] : [];
            _subscriptions = null;
            return taken;
        }
    }
}
