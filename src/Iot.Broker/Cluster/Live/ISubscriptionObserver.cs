using Iot.Broker.Mqtt;

namespace Iot.Broker.Cluster.Live;

/// <summary>
/// Told by <see cref="SubscriptionIndex"/> which filters its tree holds, so that cluster mode subscribes to them on NATS.
/// Called under the index's lock: an implementation only records the change (its own lock is a leaf) and calls nothing.
/// </summary>
internal interface ISubscriptionObserver
{
    /// <summary>A non-shared subscription to <paramref name="topicFilter"/> entered the tree (one call per subscription).</summary>
    void FilterAdded(string topicFilter);

    /// <summary>A non-shared subscription to <paramref name="topicFilter"/> left the tree.</summary>
    void FilterRemoved(string topicFilter);

    /// <summary>A shared group got its first member.</summary>
    void GroupAdded(SharedGroup group);

    /// <summary>A shared group lost its last member and left the tree.</summary>
    void GroupRemoved(SharedGroup group);
}
