using Iot.Broker.Mqtt.Persistence;
using Iot.Routing.Topics;

namespace Iot.Broker.Mqtt;

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
