using Iot.Broker.Mqtt.Persistence;
using Iot.Routing.Topics;

namespace Iot.Broker.Mqtt;

/// <summary>What the subscription index holds under a topic filter: one session's subscription, or a shared group.</summary>
internal abstract class IndexEntry
{
    /// <summary>The topic filter without any <c>$share/{group}/</c> prefix.</summary>
    public required string TopicFilter { get; init; }
}

/// <summary>One subscription of one session, with its MQTT 5 options.</summary>
internal sealed class Subscription : IndexEntry
{
    public required MqttSession Session { get; init; }

    /// <summary>The filter exactly as subscribed (including <c>$share/{group}/</c>).</summary>
    public required string Filter { get; init; }

    /// <summary>The share name of a shared subscription, else null.</summary>
    public string? ShareName { get; init; }

    public byte QualityOfService { get; init; }

    public bool NoLocal { get; init; }

    public bool RetainAsPublished { get; init; }

    /// <summary>0 send retained on subscribe, 1 only when the subscription is new, 2 never.</summary>
    public byte RetainHandling { get; init; }

    /// <summary>MQTT 5 subscription identifier; 0 when none.</summary>
    public uint SubscriptionIdentifier { get; init; }

    /// <summary>The subscription of <paramref name="session"/> a stored one describes (at start-up, or in tests).</summary>
    public static Subscription FromStored(MqttSession session, PersistedSubscription s)
    {
        string? share = null;
        var topicFilter = s.Filter;
        if (TopicNames.TryParseSharedSubscription(s.Filter, out var shareName, out var inner))
        {
            share = shareName;
            topicFilter = inner;
        }

        return new Subscription
        {
            Session = session,
            Filter = s.Filter,
            TopicFilter = topicFilter,
            ShareName = share,
            QualityOfService = s.QualityOfService,
            NoLocal = s.NoLocal,
            RetainAsPublished = s.RetainAsPublished,
            RetainHandling = s.RetainHandling,
            SubscriptionIdentifier = s.SubscriptionIdentifier,
        };
    }
}

/// <summary>
/// The members of one shared subscription (<c>$share/{ShareName}/{TopicFilter}</c>): each message goes to one member,
/// round robin, preferring members that are connected and have room in their in-flight window.
/// </summary>
internal sealed class SharedGroup : IndexEntry
{
    private readonly Lock _gate = new();
    private Subscription[] _members = [];
    private uint _next;

    public required string ShareName { get; init; }

    public bool IsEmpty => Volatile.Read(ref _members).Length == 0;

    public void AddOrReplace(Subscription subscription)
    {
        lock (_gate)
        {
            var members = _members;
            for (var i = 0; i < members.Length; i++)
            {
                if (ReferenceEquals(members[i].Session, subscription.Session))
                {
                    var copy = (Subscription[])members.Clone();
                    copy[i] = subscription;
                    Volatile.Write(ref _members, copy);
                    return;
                }
            }

            Volatile.Write(ref _members, [.. members, subscription]);
        }
    }

    /// <summary>Removes the member of <paramref name="session"/>; true when the group is then empty.</summary>
    public bool Remove(MqttSession session)
    {
        lock (_gate)
        {
            var members = _members;
            var index = Array.FindIndex(members, m => ReferenceEquals(m.Session, session));
            if (index >= 0)
            {
                var copy = new Subscription[members.Length - 1];
                Array.Copy(members, 0, copy, 0, index);
                Array.Copy(members, index + 1, copy, index, members.Length - index - 1);
                Volatile.Write(ref _members, copy);
            }

            return _members.Length == 0;
        }
    }

    /// <summary>Picks the member that gets the next message; null when the group has none.</summary>
    public Subscription? Pick()
    {
        var members = Volatile.Read(ref _members);
        if (members.Length == 0)
        {
            return null;
        }

        var start = (int)(Interlocked.Increment(ref _next) % (uint)members.Length);
        Subscription? fallback = null;
        for (var i = 0; i < members.Length; i++)
        {
            var candidate = members[(start + i) % members.Length];
            if (candidate.Session.CanAcceptNow)
            {
                return candidate;
            }

            fallback ??= candidate.Session.IsConnected ? candidate : null;
        }

        return fallback ?? members[start];
    }
}
