using Iot.Broker.Security;
using Iot.Broker.Security.AccessControl;

namespace Iot.Broker.Mqtt;

/// <summary>What the subscription index holds under a topic filter: one session's subscription, or a shared group.</summary>
internal abstract class IndexEntry
{
    /// <summary>The topic filter without any <c>$share/{group}/</c> prefix.</summary>
    public required string TopicFilter { get; init; }
}

/// <summary>One subscription of one session, with its MQTT 5 options and the access check its messages need.</summary>
internal sealed class Subscription : IndexEntry
{
    private DeliveryCheck? _deliveryCheck;

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

    /// <summary>
    /// The check each message goes through before it is delivered through this subscription, from the owner's rules at
    /// SUBSCRIBE (or when a resumed session is brought within its owner's current rights); null when the filter shares
    /// no topic with a deny rule, or when no rights were evaluated (no access control, or a subscription restored at
    /// start-up whose owner has not connected since: nothing is sent to it before, and what was queued for it is
    /// checked when it connects).
    /// </summary>
    public DeliveryCheck? DeliveryCheck
    {
        get => Volatile.Read(ref _deliveryCheck);
        init => _deliveryCheck = value;
    }

    /// <summary>Whether a message on <paramref name="topic"/> may be delivered through this subscription. No allocation.</summary>
    public bool MayDeliver(string topic) => Volatile.Read(ref _deliveryCheck) is not { } check || check.Allows(topic);

    /// <summary>
    /// Evaluates the filter again under <paramref name="acl"/> (the owner's current rights) and keeps the delivery check
    /// that gives; false when the filter is no longer granted, and then nothing is delivered through it any more.
    /// </summary>
    public bool Reauthorize(IPrincipalAcl acl)
    {
        ArgumentNullException.ThrowIfNull(acl);
        var granted = acl.CanSubscribe(TopicFilter, out var check);
        Volatile.Write(ref _deliveryCheck, granted ? check : DeliveryCheck.Nothing);
        return granted;
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

    /// <summary>
    /// Picks the member that gets the next message on <paramref name="topic"/>, among those that may receive it
    /// (<see cref="Subscription.MayDeliver"/>); null when none may.
    /// </summary>
    public Subscription? Pick(string topic)
    {
        var members = Volatile.Read(ref _members);
        if (members.Length == 0)
        {
            return null;
        }

        var start = (int)(Interlocked.Increment(ref _next) % (uint)members.Length);
        Subscription? fallback = null;
        Subscription? allowed = null;
        for (var i = 0; i < members.Length; i++)
        {
            var candidate = members[(start + i) % members.Length];
            if (!candidate.MayDeliver(topic))
            {
                continue;
            }

            if (candidate.Session.CanAcceptNow)
            {
                return candidate;
            }

            allowed ??= candidate;
            fallback ??= candidate.Session.IsConnected ? candidate : null;
        }

        return fallback ?? allowed;
    }
}
