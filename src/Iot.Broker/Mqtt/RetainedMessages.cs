using System.Diagnostics.CodeAnalysis;
using Iot.Messaging.Topics;

namespace Iot.Broker.Mqtt;

/// <summary>
/// The retained message of each topic, durable, found by wildcard filters through a topic index. Each client-published
/// retained message is charged to its owner (the identity that published it last, <see cref="RetainedQuota"/>): a
/// message that would take an owner, or all clients together, over a quota is not retained. In cluster mode
/// (<paramref name="replication"/> set) the index is fed from the cluster's log instead: see RetainedMessages.Cluster.cs.
/// </summary>
internal sealed partial class RetainedMessages(BrokerContext context, IRetainedReplication? replication = null)
{
    private readonly TopicIndex<BrokerMessage> _index = new();

    // Serialises changes, so that the charges, the index and the order of the store's writes agree. Readers (matching,
    // TryGetCurrent) stay lock-free on the index.
    private readonly Lock _gate = new();
    private int _ownedCount;
    private long _ownedBytes;

    public int Count => _index.Count;

    /// <summary>Retained messages charged to a client (all but the broker's own).</summary>
    public int OwnedCount => Volatile.Read(ref _ownedCount);

    /// <summary>Bytes of the retained messages charged to clients (<see cref="RetainedQuota.SizeOf"/>).</summary>
    public long OwnedBytes => Volatile.Read(ref _ownedBytes);

    /// <summary>Who owns what; <see cref="BrokerMessage.RetainedOwnerId"/> indexes it.</summary>
    public RetainedQuota Quota { get; } = new(context.Options);

    /// <summary>
    /// Sets, replaces or (empty payload) clears the retained message of the message's topic. False when a quota
    /// refused it (counted): nothing changed.
    /// </summary>
    public bool Apply(BrokerMessage message, ref DurableWrites durable)
    {
        if (replication is not null)
        {
            return ApplyReplicated(replication, message, ref durable);
        }

        lock (_gate)
        {
            _index.TryGet(message.Topic, out var previous);
            if (message.Payload.IsEmpty)
            {
                if (previous is not null && _index.Remove(message.Topic))
                {
                    Release(previous);
                    durable.Add(context.Store.DeleteRetainedAsync(message.Topic));
                }

                return true;
            }

            var owner = Quota.Get(message.RetainedOwnerId);
            if (owner is not null && !TryCharge(owner, message, previous))
            {
                return false;
            }

            if (previous is not null)
            {
                Release(previous);
            }

            _index.Set(message.Topic, message);
            durable.Add(context.Store.SetRetainedAsync(message, owner?.Name));
            return true;
        }
    }

    /// <summary>
    /// Restores a stored retained message at start-up, charged to <paramref name="owner"/> (stored with it), or for a
    /// record written before owners were stored, to its publisher's client id (a device's identity). In cluster mode
    /// the local store is not a source of retained messages (the cluster's log is the only one), and nothing is restored.
    /// </summary>
    public void Restore(BrokerMessage message, string? owner = null)
    {
        if (replication is not null)
        {
            return;
        }

        owner ??= message.SourceClientId;
        lock (_gate)
        {
            if (owner is not null)
            {
                var charged = Quota.OwnerFor(owner);
                message.RetainedOwnerId = charged.Id;
                Charge(charged, RetainedQuota.SizeOf(message), 1);
            }

            _index.Set(message.Topic, message);
        }
    }

    /// <summary>The retained message of <paramref name="topic"/> now; false when there is none or it expired.</summary>
    public bool TryGetCurrent(string topic, long nowUnixMs, [NotNullWhen(true)] out BrokerMessage? message)
    {
        if (_index.TryGet(topic, out message) && !message.IsExpired(nowUnixMs))
        {
            return true;
        }

        message = null;
        return false;
    }

    /// <summary>
    /// The retained messages a new subscription is owed, as a cursor for its session to send from as it has room;
    /// null when none match. At most <see cref="MqttOptions.MaxRetainedPerSubscribe"/> (when set) are kept, after those
    /// the subscription may not deliver (<see cref="Subscription.MayDeliver"/>) are left out.
    /// </summary>
    public RetainedCursor? OpenCursor(Subscription subscription, MqttConnection connection)
    {
        var matches = new List<BrokerMessage>();
        Match(subscription.TopicFilter, matches);
        if (subscription.DeliveryCheck is not null)
        {
            matches.RemoveAll(m => !subscription.MayDeliver(m.Topic));
        }
        if (matches.Count == 0)
        {
            return null;
        }

        var limit = context.Options.MaxRetainedPerSubscribe;
        if (limit > 0 && matches.Count > limit)
        {
            context.Metrics.LimitHit(LimitKind.MaxRetainedPerSubscribe);
            matches.RemoveRange(limit, matches.Count - limit);
        }

        return new RetainedCursor(subscription, connection, matches, this, context.Metrics);
    }

    /// <summary>Appends the live retained messages matching <paramref name="filter"/>; expired ones are removed on the way.</summary>
    public void Match(string filter, List<BrokerMessage> results)
    {
        var start = results.Count;
        _index.Match(filter, results);
        var now = context.NowUnixMs;
        for (var i = results.Count - 1; i >= start; i--)
        {
            var message = results[i];
            if (message.IsExpired(now))
            {
                results.RemoveAt(i);
                lock (_gate)
                {
                    if (_index.TryGet(message.Topic, out var current) && ReferenceEquals(current, message))
                    {
                        _index.Remove(message.Topic);
                        Release(message);

                        // In cluster mode every node drops it at the same instant; the log keeps it until replaced.
                        if (replication is null)
                        {
                            _ = context.Store.DeleteRetainedAsync(message.Topic);
                        }
                    }
                }
            }
        }
    }

    /// <summary>Charges <paramref name="message"/> to <paramref name="owner"/>, replacing <paramref name="previous"/>;
    /// false (counted) when that takes the owner or all clients over a quota. A change that does not grow a count is
    /// always allowed, so an owner over a lowered quota can still update and clear what it has.</summary>
    private bool TryCharge(RetainedOwner owner, BrokerMessage message, BrokerMessage? previous)
    {
        var size = RetainedQuota.SizeOf(message);
        var previousSize = previous is null ? 0 : RetainedQuota.SizeOf(previous);
        var sameOwner = previous is not null && previous.RetainedOwnerId == owner.Id;
        var count = sameOwner ? 0 : 1;
        var bytes = size - (sameOwner ? previousSize : 0);
        if (Exceeds(owner.Count, count, owner.MaxCount) || Exceeds(owner.Bytes, bytes, owner.MaxBytes))
        {
            context.Metrics.LimitHit(LimitKind.RetainedPerIdentity);
            return false;
        }

        var previousOwned = previous is not null && previous.RetainedOwnerId != 0;
        if (Exceeds(_ownedCount, previousOwned ? 0 : 1, Quota.MaxTotalCount)
            || Exceeds(_ownedBytes, size - (previousOwned ? previousSize : 0), Quota.MaxTotalBytes))
        {
            context.Metrics.LimitHit(LimitKind.RetainedTotal);
            return false;
        }

        Charge(owner, size, 1);
        return true;
    }

    private static bool Exceeds(long current, long growth, long limit) => limit > 0 && growth > 0 && current + growth > limit;

    private void Charge(RetainedOwner owner, long size, int count)
    {
        owner.Count += count;
        owner.Bytes += size;
        Volatile.Write(ref _ownedCount, _ownedCount + count);
        Volatile.Write(ref _ownedBytes, _ownedBytes + size);
    }

    /// <summary>Gives back what <paramref name="message"/>, no longer retained, was charged.</summary>
    private void Release(BrokerMessage message)
    {
        if (Quota.Get(message.RetainedOwnerId) is { } owner)
        {
            Charge(owner, -RetainedQuota.SizeOf(message), -1);
        }
    }
}
