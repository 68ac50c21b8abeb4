namespace Iot.Broker.Mqtt;

/// <summary>
/// The members of one shared subscription (<c>$share/{ShareName}/{TopicFilter}</c>): each message goes to one member,
/// round robin, preferring members that are connected and have room in their in-flight window.
/// </summary>
/// <remarks>
/// Its lock serialises changes to the members (made under <see cref="SubscriptionIndex"/>'s lock) and calls nothing;
/// <see cref="Pick"/> reads the member array without it, then asks the members' sessions, holding no lock.
/// </remarks>
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

    /// <summary>The member of the session of <paramref name="clientId"/>; null when it has none here.</summary>
    public Subscription? MemberOf(string clientId)
    {
        foreach (var member in Volatile.Read(ref _members))
        {
            if (string.Equals(member.Session.ClientId, clientId, StringComparison.Ordinal))
            {
                return member;
            }
        }

        return null;
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
