using System.Diagnostics.CodeAnalysis;

namespace Iot.Broker.Mqtt;

/// <summary>
/// The retained messages one SUBSCRIBE still owes its session: the topics matched when the subscription was made,
/// handed out one at a time as the session has room (see <c>MqttSession.FeedRetainedLocked</c>), so that a filter
/// matching 100 000 retained topics neither drops them at the queue bound nor copies them into a queue.
/// </summary>
/// <remarks>
/// <para>
/// The snapshot holds references, not copies. When a topic comes up, its <em>current</em> retained message is sent:
/// none when it was cleared or expired since, the newer one when it was replaced. A newer retained message was
/// published after the subscription was in the index, so the live path delivers it to this session too; sending the
/// older snapshot after it would overtake it, sending the current one at worst repeats it with RETAIN set.
/// </para>
/// <para>
/// A cursor belongs to the connection that subscribed and ends with it: MQTT sends retained messages when a
/// subscription is made, so what a persistent session had not received when its connection closed is not owed after
/// it reconnects (the client subscribes again to get them). Not thread-safe: the session's lock guards it.
/// </para>
/// </remarks>
internal sealed class RetainedCursor
{
    private readonly RetainedMessages _retained;
    private readonly BrokerMetrics _metrics;
    private List<BrokerMessage>? _matches;
    private int _next;

    /// <summary>Takes over <paramref name="matches"/> (non-empty) and counts them in <see cref="BrokerMetrics.RetainedPending"/>.</summary>
    public RetainedCursor(Subscription subscription, IDeliveryTarget target, List<BrokerMessage> matches, RetainedMessages retained, BrokerMetrics metrics)
    {
        Subscription = subscription;
        Target = target;
        SubscriptionIdentifiers = subscription.SubscriptionIdentifier == 0 ? null : [subscription.SubscriptionIdentifier];
        _matches = matches;
        _retained = retained;
        _metrics = metrics;
        metrics.AddRetainedPending(matches.Count);
    }

    public Subscription Subscription { get; }

    /// <summary>Where the subscribing client was connected; the cursor ends when that connection does.</summary>
    public IDeliveryTarget Target { get; }

    public uint[]? SubscriptionIdentifiers { get; }

    /// <summary>Topics not handed out yet.</summary>
    public int Remaining => _matches is null ? 0 : _matches.Count - _next;

    /// <summary>
    /// The current retained message of the next topic that still has one (cleared or expired topics are passed
    /// over, and so are topics the subscription may no longer deliver, when a resumed session's rights narrowed it);
    /// false when the cursor is at its end. Call <see cref="Advance"/> once it is handed to the session.
    /// </summary>
    public bool TryPeek(long nowUnixMs, [NotNullWhen(true)] out BrokerMessage? message)
    {
        while (_matches is not null && _next < _matches.Count)
        {
            var topic = _matches[_next].Topic;
            if (Subscription.MayDeliver(topic) && _retained.TryGetCurrent(topic, nowUnixMs, out message))
            {
                return true;
            }

            Advance();
        }

        message = null;
        return false;
    }

    /// <summary>Moves past the current topic, letting go of its snapshot reference.</summary>
    public void Advance()
    {
        _matches![_next++] = null!;
        _metrics.AddRetainedPending(-1);
        if (_next == _matches.Count)
        {
            _matches = null;
        }
    }

    /// <summary>Ends the cursor without sending the rest (the connection closed, UNSUBSCRIBE, a new SUBSCRIBE).</summary>
    public void Cancel()
    {
        _metrics.AddRetainedPending(-Remaining);
        _matches = null;
    }
}
