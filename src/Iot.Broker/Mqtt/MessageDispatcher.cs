using System.Diagnostics;
using Iot.Broker.Cluster.Live;
using Iot.Messaging;
using Iot.Messaging.Telemetry;

namespace Iot.Broker.Mqtt;

/// <summary>
/// The publish path: updates the retained store, matches subscriptions through the topic tree and hands the
/// message to each matching session once (with the highest granted QoS and all subscription identifiers), through the
/// subscriptions that may deliver it (<see cref="Subscription.MayDeliver"/>: a filter that overlaps a deny rule is
/// checked per message, any other costs a null test). Returns the durable writes the publisher's acknowledgement must
/// wait for.
/// </summary>
/// <remarks>
/// In cluster mode (<paramref name="live"/> set) a publish is then sent once to the other nodes' subscribers, and
/// <paramref name="fanOut"/> appends the QoS 1/2 copies for persistent sessions (on any node) to their JetStream queues and
/// gives each matching shared group's message to one member it picks across the cluster, before the acknowledgement.
/// Shared groups are never served directly from here in cluster mode. Messages from other nodes come back in through
/// <see cref="DeliverFromCluster"/> and <see cref="DeliverToMember"/>, to local sessions only. Without either the only
/// cost is a null test.
/// </remarks>
internal sealed class MessageDispatcher(
    SubscriptionIndex subscriptions,
    RetainedMessages retained,
    BrokerMetrics metrics,
    IMessageRouter? router = null,
    ILiveLink? live = null,
    IClusterFanOut? fanOut = null)
{
    /// <summary>One message in this many, per thread, is timed for <c>iot.mqtt.delivery.duration</c> (a power of two).</summary>
    internal const int DeliverySampleEvery = 16;

    [ThreadStatic]
    private static int t_deliverySample;

    [ThreadStatic]
    private static List<IndexEntry>? t_matches;

    [ThreadStatic]
    private static Dictionary<MqttSession, Aggregate>? t_bySession;

    /// <summary>
    /// What <see cref="PublishAsync"/> returns, delivering nothing, when <c>refuseUnretained</c> is set and a retained quota
    /// kept the message from being retained (MQTT 5 answers it with 0x97).
    /// </summary>
    public static readonly Task RetainedQuotaExceeded = Task.FromResult(false);

    /// <summary>
    /// Publishes <paramref name="message"/>. A retained message over its owner's quota is not retained and, when
    /// <paramref name="refuseUnretained"/> is set (an MQTT 5 QoS 1/2 publish, whose publisher can be told), not
    /// delivered either: then the result is <see cref="RetainedQuotaExceeded"/>. Without <paramref name="route"/> (a QoS 0
    /// publish while the <see cref="DurableBacklog"/> is full) the message is not offered to the routes, counted as
    /// dropped for <see cref="DropReason.DurableBacklog"/>.
    /// </summary>
    public Task PublishAsync(BrokerMessage message, string? publisherClientId, bool refuseUnretained = false, bool route = true) =>
        IotTracing.Enabled ? PublishTraced(message, publisherClientId, refuseUnretained, route) : Publish(message, publisherClientId, refuseUnretained, route);

    /// <summary>
    /// <see cref="Publish"/> in a <c>publish</c> span, child of the context the message carries (MQTT 5
    /// <c>traceparent</c>) or a new trace, never of the connection's current span (a WebSocket's upgrade request lives
    /// as long as its connection); it ends when the message's durable writes do.
    /// </summary>
    private Task PublishTraced(BrokerMessage message, string? publisherClientId, bool refuseUnretained, bool route)
    {
        var previous = Activity.Current;
        Activity.Current = null;
        var activity = IotTracing.StartFor("publish", ActivityKind.Consumer, message);
        if (activity is null)
        {
            Activity.Current = previous;
            return Publish(message, publisherClientId, refuseUnretained, route);
        }

        return IotTracing.Run(activity, previous, (Dispatcher: this, Message: message, Publisher: publisherClientId, Refuse: refuseUnretained, Route: route),
            static s => s.Dispatcher.Publish(s.Message, s.Publisher, s.Refuse, s.Route));
    }

    private Task Publish(BrokerMessage message, string? publisherClientId, bool refuseUnretained, bool route)
    {
        var accepted = SampleDelivery();
        var durable = default(DurableWrites);
        if (message.Retain && !retained.Apply(message, ref durable) && refuseUnretained)
        {
            return RetainedQuotaExceeded;
        }

        DeliverLocal(message, publisherClientId, shareLocally: live is null, accepted, ref durable);
        live?.Publish(message, publisherClientId);

        // Cluster mode: persistent sessions' queues and shared groups, on any node, before the PUBACK.
        if (fanOut is not null)
        {
            durable.Add(fanOut.FanOutAsync(message, publisherClientId));
        }

        // Messages the platform publishes itself (routing deliveries, commands) are not routed again: no loops.
        if (router is not null && message.SourceClientId is not null)
        {
            if (route)
            {
                durable.Add(router.RouteAsync(message));
            }
            else
            {
                metrics.MessageDropped(DropReason.DurableBacklog);
            }
        }

        return durable.ToTask();
    }

    /// <summary>
    /// Cluster mode: delivers a message another node accepted to this node's non-shared subscriptions (no retained update,
    /// no routing, no sending on: the origin did those). Nothing waits for the durable writes of the sessions it reaches.
    /// </summary>
    public void DeliverFromCluster(BrokerMessage message, string? publisherClientId)
    {
        var durable = default(DurableWrites);
        DeliverLocal(message, publisherClientId, shareLocally: false, SampleDelivery(), ref durable);
        _ = durable.ToTask();
    }

    /// <summary>
    /// Cluster mode: delivers a shared group's message that the node it was published on picked
    /// <paramref name="clientId"/> for; another member here when that one just left or may not take it; false when none here may.
    /// </summary>
    public static bool DeliverToMember(SharedGroup group, string clientId, BrokerMessage message)
    {
        ArgumentNullException.ThrowIfNull(group);
        ArgumentNullException.ThrowIfNull(message);
        var member = group.MemberOf(clientId) is { } picked && picked.MayDeliver(message.Topic) ? picked : group.Pick(message.Topic);
        if (member is null)
        {
            return false;
        }

        var qos = GrantedQos(message, member);
        if (qos > 0 && member.Session.QueueInStream)
        {
            // A persistent session takes QoS 1/2 only from its JetStream queue, where the publishing node puts what it
            // picks it for; this one was picked as a clean session or at QoS 0 (it reconnected meanwhile).
            return false;
        }

        var durable = default(DurableWrites);
        Deliver(member.Session, ClaimCheckedMessages.For(message, member.ResolveClaimCheck), qos, member.RetainAsPublished && message.Retain,
            member.SubscriptionIdentifier == 0 ? null : [member.SubscriptionIdentifier], ref durable);
        _ = durable.ToTask();
        return true;
    }

    /// <summary>
    /// Starts sending the retained messages matching a new subscription (RETAIN set, as MQTT requires on subscribe):
    /// the session takes them from a cursor as its queue and in-flight window have room, so none is dropped for the
    /// queue bound, and the cursor ends with <paramref name="connection"/>.
    /// </summary>
    public void DeliverRetained(Subscription subscription, MqttConnection connection)
    {
        if (retained.OpenCursor(subscription, connection) is { } cursor)
        {
            subscription.Session.StartRetained(cursor);
        }
    }

    /// <summary>
    /// Delivers to the matching sessions of this node; a shared group's member only when <paramref name="shareLocally"/>
    /// (single-process mode: in cluster mode the publishing node picks each group's member, <see cref="IClusterFanOut"/>).
    /// </summary>
    /// <remarks>
    /// <c>iot.mqtt.delivery.duration</c> from <paramref name="accepted"/> (0: this message is not sampled): one timestamp
    /// pair and one measurement per sampled message, not per copy (a fan-out to thousands of sessions records once); the
    /// copies are in their sessions' writers or queues when this returns.
    /// </remarks>
    private void DeliverLocal(BrokerMessage message, string? publisherClientId, bool shareLocally, long accepted, ref DurableWrites durable)
    {
        var matches = t_matches ??= new List<IndexEntry>(16);
        matches.Clear();
        subscriptions.Match(message.Topic, matches);
        try
        {
            if (matches.Count == 0)
            {
                metrics.Add(BrokerCounter.MessagesUnmatched);
            }
            else if (matches.Count == 1)
            {
                if (Resolve(matches[0], message.Topic, shareLocally) is { } only && !IsNoLocal(only, publisherClientId))
                {
                    Deliver(only.Session, ClaimCheckedMessages.For(message, only.ResolveClaimCheck), GrantedQos(message, only), only.RetainAsPublished && message.Retain,
                        only.SubscriptionIdentifier == 0 ? null : [only.SubscriptionIdentifier], ref durable);
                }
            }
            else
            {
                DeliverMany(message, publisherClientId, matches, shareLocally, ref durable);
            }

            if (accepted != 0 && matches.Count != 0)
            {
                metrics.DeliveryDuration.Record(Stopwatch.GetElapsedTime(accepted).TotalSeconds);
            }
        }
        finally
        {
            matches.Clear();
        }
    }

    /// <summary>
    /// The start of <c>iot.mqtt.delivery.duration</c> for one message in <see cref="DeliverySampleEvery"/> on each thread,
    /// else 0. Every message recorded into the one shared histogram made fan-in at a million messages a second about 13 %
    /// slower (its buckets' cache line bounces between the cores); a sample keeps the percentiles and costs a
    /// thread-local increment (docs/benchmarks.md, "Issue 20").
    /// </summary>
    private static long SampleDelivery() => (++t_deliverySample & (DeliverySampleEvery - 1)) == 0 ? Stopwatch.GetTimestamp() : 0;

    private static void DeliverMany(BrokerMessage message, string? publisherClientId, List<IndexEntry> matches, bool shareLocally, ref DurableWrites durable)
    {
        var bySession = t_bySession ??= [];
        bySession.Clear();
        foreach (var entry in matches)
        {
            if (Resolve(entry, message.Topic, shareLocally) is not { } subscription || IsNoLocal(subscription, publisherClientId))
            {
                continue;
            }

            var qos = GrantedQos(message, subscription);
            var retain = subscription.RetainAsPublished && message.Retain;
            if (bySession.TryGetValue(subscription.Session, out var aggregate))
            {
                aggregate.Qos = Math.Max(aggregate.Qos, qos);
                aggregate.Retain |= retain;
                aggregate.Resolve |= subscription.ResolveClaimCheck;
                if (subscription.SubscriptionIdentifier != 0)
                {
                    (aggregate.Ids ??= []).Add(subscription.SubscriptionIdentifier);
                }

                bySession[subscription.Session] = aggregate;
            }
            else
            {
                bySession[subscription.Session] = new Aggregate
                {
                    Qos = qos,
                    Retain = retain,
                    Resolve = subscription.ResolveClaimCheck,
                    Ids = subscription.SubscriptionIdentifier == 0 ? null : [subscription.SubscriptionIdentifier],
                };
            }
        }

        foreach (var (session, aggregate) in bySession)
        {
            Deliver(session, ClaimCheckedMessages.For(message, aggregate.Resolve), aggregate.Qos, aggregate.Retain, aggregate.Ids?.ToArray(), ref durable);
        }

        bySession.Clear();
    }

    private static void Deliver(MqttSession session, BrokerMessage message, byte qos, bool retain, uint[]? ids, ref DurableWrites durable) =>
        session.Enqueue(message, qos, retain, ids, ref durable);

    /// <summary>The subscription that delivers the message on <paramref name="topic"/> for this entry; null when none may.</summary>
    private static Subscription? Resolve(IndexEntry entry, string topic, bool shareLocally) => entry switch
    {
        Subscription s => s.MayDeliver(topic) ? s : null,
        SharedGroup g => shareLocally ? g.Pick(topic) : null,
        _ => null,
    };

    private static bool IsNoLocal(Subscription subscription, string? publisherClientId) =>
        subscription.NoLocal && publisherClientId is not null && subscription.Session.ClientId == publisherClientId;

    private static byte GrantedQos(BrokerMessage message, Subscription subscription) =>
        Math.Min(message.QualityOfService, subscription.QualityOfService);

    private struct Aggregate
    {
        public byte Qos;
        public bool Retain;
        public bool Resolve;
        public List<uint>? Ids;
    }
}
