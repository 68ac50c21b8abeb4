using Iot.Broker.Mqtt.Persistence;
using Iot.Broker.Security;
using Iot.Broker.Security.AccessControl;
using Iot.Messaging.Topics;

namespace Iot.Broker.Mqtt;

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
    /// The subscriber asked (SUBSCRIBE user property <c>iot-claim-check: resolve</c>) for claim-checked messages with their
    /// payload instead of the reference (docs/api.md, "Claim check"). Not stored: a restored subscription gets references.
    /// </summary>
    public bool ResolveClaimCheck { get; init; }

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
