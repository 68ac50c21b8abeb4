using Iot.Broker.Mqtt.Persistence;
using Iot.Messaging.Topics;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.Mqtt;

internal sealed partial class MqttConnection
{
    private async ValueTask<bool> HandleSubscribeAsync(MqttSubscribePacket subscribe)
    {
        var session = _session!;
        var codes = new List<MqttSubscribeReasonCode>(subscribe.TopicFilters.Count);
        var durable = default(DurableWrites);
        List<Subscription>? sendRetained = null;
        foreach (var filter in subscribe.TopicFilters)
        {
            var text = filter.Topic ?? string.Empty;
            var topicFilter = text;
            string? share = null;
            if (TopicNames.IsSharedSubscription(text))
            {
                if (!TopicNames.TryParseSharedSubscription(text, out var shareName, out topicFilter))
                {
                    codes.Add(MqttSubscribeReasonCode.TopicFilterInvalid);
                    continue;
                }

                if (IsV5 && filter.NoLocal)
                {
                    Violation(MqttDisconnectReasonCode.ProtocolError, "No Local on a shared subscription");
                    return false;
                }

                share = shareName;
            }

            if (!TopicNames.IsValidTopicFilter(topicFilter))
            {
                codes.Add(IsV5 ? MqttSubscribeReasonCode.TopicFilterInvalid : MqttSubscribeReasonCode.UnspecifiedError);
                continue;
            }

            if (_guard.ExceedsTopicLimits(topicFilter))
            {
                Context.Metrics.LimitHit(LimitKind.TopicLimits);
                codes.Add(IsV5 ? MqttSubscribeReasonCode.TopicFilterInvalid : MqttSubscribeReasonCode.UnspecifiedError);
                continue;
            }

            if (!CanSubscribe(topicFilter, out var deliveryCheck))
            {
                Context.Metrics.Add(BrokerCounter.SubscribeDenied);
                codes.Add(IsV5 && !Context.Options.DenySubscribeWithUnspecifiedError ? MqttSubscribeReasonCode.NotAuthorized : MqttSubscribeReasonCode.UnspecifiedError);
                continue;
            }

            if (session.SubscriptionCount >= Context.Options.MaxSubscriptionsPerClient && !session.HasSubscription(text))
            {
                Context.Metrics.LimitHit(LimitKind.MaxSubscriptionsPerClient);
                codes.Add(IsV5 ? MqttSubscribeReasonCode.QuotaExceeded : MqttSubscribeReasonCode.UnspecifiedError);
                continue;
            }

            var qos = (byte)filter.QualityOfServiceLevel;
            var subscription = new Subscription
            {
                Session = session,
                Filter = text,
                TopicFilter = topicFilter,
                ShareName = share,
                QualityOfService = qos,
                NoLocal = IsV5 && filter.NoLocal,
                RetainAsPublished = IsV5 && filter.RetainAsPublished,
                RetainHandling = IsV5 ? (byte)filter.RetainHandling : (byte)0,
                SubscriptionIdentifier = IsV5 ? subscribe.SubscriptionIdentifier : 0,
                ResolveClaimCheck = IsV5 && ClaimCheckedMessages.AsksToResolve(subscribe.UserProperties),
                DeliveryCheck = deliveryCheck,
            };

            var isNew = _broker.Subscriptions.Subscribe(subscription);
            if (session.IsPersistent || (share is not null && session.Cluster is not null))
            {
                // Cluster mode also records a clean session's shared subscriptions: the node a message is published on
                // picks the group's member among all of them (docs/cluster.md, "Shared subscriptions").
                durable.Add(Context.Store.UpsertSubscriptionAsync(session.ClientId, new PersistedSubscription(
                    subscription.Filter, qos, subscription.NoLocal, subscription.RetainAsPublished,
                    subscription.RetainHandling, subscription.SubscriptionIdentifier)));
            }

            // Retained messages are not sent for shared subscriptions (MQTT 5 §4.8.2).
            if (share is null && (subscription.RetainHandling == 0 || (subscription.RetainHandling == 1 && isNew)))
            {
                (sendRetained ??= []).Add(subscription);
            }

            codes.Add((MqttSubscribeReasonCode)qos);
        }

        if (sendRetained is not null)
        {
            // Cluster mode: the index must hold every retained value acknowledged before this SUBSCRIBE (on any node);
            // when it cannot get there in time the SUBSCRIBE fails rather than send stale values. Single node: no wait.
            durable.Add(_broker.Retained.WhenCurrentAsync());
        }

        var failed = await AwaitDurableAsync(durable.ToTask()).ConfigureAwait(false);
        if (failed)
        {
            for (var i = 0; i < codes.Count; i++)
            {
                codes[i] = MqttSubscribeReasonCode.UnspecifiedError;
            }

            sendRetained = null;
        }
        else if (_broker.SubscriptionBarrier is { } barrier)
        {
            // Cluster mode: every node must know the subscription before the SUBACK (a publish after it must reach it).
            await barrier.WhenVisibleAsync().ConfigureAwait(false);
        }

        Send(new MqttSubAckPacket { PacketIdentifier = subscribe.PacketIdentifier, ReasonCodes = codes });
        if (sendRetained is not null)
        {
            foreach (var subscription in sendRetained)
            {
                _broker.Dispatcher.DeliverRetained(subscription, this);
            }
        }

        if (!failed)
        {
            _broker.Commands.NotifyIfReady(session);
        }

        return true;
    }

    private async ValueTask HandleUnsubscribeAsync(MqttUnsubscribePacket unsubscribe)
    {
        var session = _session!;
        var codes = new List<MqttUnsubscribeReasonCode>(unsubscribe.TopicFilters.Count);
        var durable = default(DurableWrites);
        foreach (var filter in unsubscribe.TopicFilters)
        {
            var removed = _broker.Subscriptions.Unsubscribe(session, filter);
            if (removed)
            {
                // MQTT 5 §3.10.4: no new messages for the filter, retained ones still owed included.
                session.EndRetained(filter);
            }

            if (removed && (session.IsPersistent || (session.Cluster is not null && TopicNames.IsSharedSubscription(filter))))
            {
                durable.Add(Context.Store.DeleteSubscriptionAsync(session.ClientId, filter));
            }

            codes.Add(removed ? MqttUnsubscribeReasonCode.Success : MqttUnsubscribeReasonCode.NoSubscriptionExisted);
        }

        await AwaitDurableAsync(durable.ToTask()).ConfigureAwait(false);
        Send(new MqttUnsubAckPacket { PacketIdentifier = unsubscribe.PacketIdentifier, ReasonCodes = codes });
    }

    /// <summary>Awaits durable writes; true when they failed (logged).</summary>
    private async ValueTask<bool> AwaitDurableAsync(Task durable)
    {
        if (durable.IsCompletedSuccessfully)
        {
            return false;
        }

        try
        {
            await durable.ConfigureAwait(false);
            return false;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            BrokerLog.DurableWriteFailed(_broker.Logger, ClientId, ex);
            return true;
        }
    }
}
