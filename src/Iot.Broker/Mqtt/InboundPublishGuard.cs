using Iot.Broker.Security;
using Iot.Broker.Security.AccessControl;
using Iot.Messaging.Topics;
using MQTTnet.Protocol;

namespace Iot.Broker.Mqtt;

/// <summary>
/// What a client's PUBLISH must pass before the broker takes it: its topic (MQTT 3.1.1 topic reuse, MQTT 5 topic
/// aliases, well-formedness, <see cref="MqttOptions.MaxTopicLength"/> and <see cref="MqttOptions.MaxTopicLevels"/>),
/// the publish rate (<see cref="MqttOptions.PublishRatePerSecond"/>: a token bucket that slows the client down and
/// cuts it off after <see cref="MqttOptions.PublishThrottleMaxSeconds"/>), the ACL, and the Receive Maximum the broker
/// announced. Used by the connection's receive side only (one thread at a time), except the count of
/// unacknowledged publishes, which the acknowledgement side decrements.
/// </summary>
internal sealed class InboundPublishGuard(BrokerContext context)
{
    private static readonly TimeSpan MinThrottle = TimeSpan.FromMilliseconds(20);

    private IPrincipalAcl? _acl;
    private Dictionary<ushort, string>? _aliases;
    // The topic of the last MQTT 3.1.1 PUBLISH: a device publishes to the same few topics, so most need no new string.
    private string? _lastTopic;
    private TokenBucket _bucket;
    private TimeSpan _throttle;
    private long _throttledSince;
    private int _unacknowledged;
    private int _retainedOwnerId;

    /// <summary>Starts guarding once CONNECT is accepted: the identity's ACL (null: everything allowed) and a full bucket.</summary>
    public void Start(IPrincipalAcl? acl)
    {
        _acl = acl;
        _bucket = new TokenBucket(context.Options.PublishRatePerSecond, context.Options.PublishBurst, context.Time.GetTimestamp(), context.Time.TimestampFrequency);
    }

    /// <summary>May this client publish to <paramref name="topic"/>?</summary>
    public bool CanPublish(string topic) => _acl?.CanPublish(topic) ?? true;

    /// <summary>
    /// May this client subscribe to <paramref name="filter"/>? <paramref name="deliveryCheck"/> is the per-message check
    /// when the filter only overlaps a deny rule (granted, and its messages on denied topics held back at delivery).
    /// </summary>
    public bool CanSubscribe(string filter, out DeliveryCheck? deliveryCheck)
    {
        deliveryCheck = null;
        return _acl?.CanSubscribe(filter, out deliveryCheck) ?? true;
    }

    /// <summary>
    /// The topic as a string: the last one when the bytes are the same ASCII, else checked and decoded (and
    /// remembered); null when the bytes are not well-formed UTF-8 or hold U+0000 (malformed, MQTT-1.5.4-1/2).
    /// </summary>
    public string? TopicFrom(ReadOnlySpan<byte> utf8)
    {
        if (_lastTopic is { } last && last.Length == utf8.Length && System.Text.Ascii.Equals(utf8, last))
        {
            return last;
        }

        if (!PacketStrings.IsWellFormed(utf8))
        {
            return null;
        }

        return _lastTopic = System.Text.Encoding.UTF8.GetString(utf8);
    }

    /// <summary>
    /// Resolves and checks a PUBLISH's topic. <paramref name="alias"/> is its Topic Alias (0: none; an alias of 0 on the
    /// wire is refused by the caller before this). False with the reason to disconnect for otherwise.
    /// </summary>
    public bool TryAcceptTopic(ref string? topic, ushort alias, out MqttDisconnectReasonCode reason, out string? detail)
    {
        if (alias != 0 && !TryResolveAlias(ref topic, alias, out reason, out detail))
        {
            return false;
        }

        if (string.IsNullOrEmpty(topic) || !TopicNames.IsValidTopicName(topic))
        {
            reason = MqttDisconnectReasonCode.TopicNameInvalid;
            detail = "invalid topic name";
            return false;
        }

        if (ExceedsTopicLimits(topic))
        {
            context.Metrics.LimitHit(LimitKind.TopicLimits);
            reason = MqttDisconnectReasonCode.TopicNameInvalid;
            detail = "topic longer or deeper than Iot:Mqtt:MaxTopicLength / MaxTopicLevels";
            return false;
        }

        reason = MqttDisconnectReasonCode.NormalDisconnection;
        detail = null;
        return true;
    }

    /// <summary>
    /// Takes a token for one PUBLISH. Over the rate the client is slowed down (<see cref="TakeThrottle"/>); false when
    /// it stayed over it for longer than allowed (disconnect with 0x96).
    /// </summary>
    public bool TryTakeRate()
    {
        var timestamp = context.Time.GetTimestamp();
        var wait = _bucket.Take(timestamp);
        if (wait == TimeSpan.Zero)
        {
            _throttledSince = 0;
            return true;
        }

        // Over the rate: slow the client down (stop reading); one that stays over it for too long is cut off.
        if (_throttledSince == 0)
        {
            _throttledSince = timestamp;
        }
        else if (context.Time.GetElapsedTime(_throttledSince, timestamp) > TimeSpan.FromSeconds(context.Options.PublishThrottleMaxSeconds))
        {
            context.Metrics.LimitHit(LimitKind.PublishRateDisconnected);
            return false;
        }

        // Timers are coarse: let the debt build up to a sleep worth taking, so the rate the client gets is the
        // configured one rather than one message per timer tick. The bucket keeps the exact account.
        if (wait >= MinThrottle)
        {
            context.Metrics.LimitHit(LimitKind.PublishRateThrottled);
            _throttle = wait;
        }

        return true;
    }

    /// <summary>How long the receive side must stop reading before the next packet (zero: not at all); resets it.</summary>
    public TimeSpan TakeThrottle()
    {
        var throttle = _throttle;
        _throttle = TimeSpan.Zero;
        return throttle;
    }

    /// <summary>Forgets the remembered topic of an idle connection (the receive side only ever compares with it, so losing it is harmless).</summary>
    public void TrimIdle() => _lastTopic = null;

    /// <summary>Whether one more unacknowledged QoS 1/2 PUBLISH would exceed the Receive Maximum announced to an MQTT 5 client.</summary>
    public bool AtReceiveMaximum => Volatile.Read(ref _unacknowledged) >= context.Options.ReceiveMaximum;

    /// <summary>A QoS 1/2 PUBLISH now awaits its acknowledgement.</summary>
    public void Received() => Interlocked.Increment(ref _unacknowledged);

    /// <summary>A QoS 1/2 PUBLISH was acknowledged (PUBACK, failed PUBREC or PUBCOMP sent).</summary>
    public void Acknowledged() => Interlocked.Decrement(ref _unacknowledged);

    /// <summary>The owner id of the retained messages this client publishes (<see cref="RetainedQuota"/>), looked up once.</summary>
    public int RetainedOwnerId(IotPrincipal? principal, RetainedQuota quota)
    {
        if (_retainedOwnerId == 0 && principal is not null)
        {
            _retainedOwnerId = quota.OwnerIdFor(principal);
        }

        return _retainedOwnerId;
    }

    /// <summary>True when the topic or filter is longer (UTF-8 bytes) or deeper (levels) than configured.</summary>
    public bool ExceedsTopicLimits(string topic)
    {
        var options = context.Options;
        if (topic.Length * 3 > options.MaxTopicLength && System.Text.Encoding.UTF8.GetByteCount(topic) > options.MaxTopicLength)
        {
            return true;
        }

        return topic.AsSpan().Count('/') + 1 > options.MaxTopicLevels;
    }

    private bool TryResolveAlias(ref string? topic, ushort alias, out MqttDisconnectReasonCode reason, out string? detail)
    {
        reason = MqttDisconnectReasonCode.TopicAliasInvalid;
        detail = null;
        if (alias > context.Options.TopicAliasMaximum)
        {
            detail = $"topic alias {alias} exceeds the maximum {context.Options.TopicAliasMaximum}";
            return false;
        }

        _aliases ??= [];
        if (!string.IsNullOrEmpty(topic))
        {
            _aliases[alias] = topic;
            return true;
        }

        if (_aliases.TryGetValue(alias, out topic))
        {
            return true;
        }

        reason = MqttDisconnectReasonCode.ProtocolError;
        detail = $"unknown topic alias {alias}";
        return false;
    }
}
