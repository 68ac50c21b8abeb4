using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Threading.Channels;
using Iot.Broker.Security;
using Iot.Messaging.Topics;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.Mqtt;

internal sealed partial class MqttConnection
{
    private static readonly TimeSpan MinThrottle = TimeSpan.FromMilliseconds(20);
    // Created by the first acknowledgement that has to wait for a durable write: most connections never need it.
    private Channel<PendingAck>? _acks;
    private Dictionary<ushort, string>? _inboundAliases;
    // The topic of the last MQTT 3.1.1 PUBLISH: a device publishes to the same few topics, so most need no new string.
    private string? _lastTopic;
    private Dictionary<string, ushort>? _outboundAliases;
    private Task? _ackTask;
    private int _acksQueued;
    private int _inboundUnacknowledged;
    private int _retainedOwnerId;

    /// <summary>
    /// Decodes an MQTT 3.1.1 (or 3.1) PUBLISH (§3.3) where it lies: no packet object, the payload stays in the frame's
    /// body array, and the previous PUBLISH's topic string is reused when the topic is the same.
    /// </summary>
    private bool HandlePublishV3(byte fixedHeader, byte[] body)
    {
        // QoS 3 is refused by HandlePublish, like any other version's.
        var qos = (byte)((fixedHeader >> 1) & 3);
        var offset = 2;
        if (body.Length < offset || (offset += BinaryPrimitives.ReadUInt16BigEndian(body)) + (qos > 0 ? 2 : 0) > body.Length)
        {
            Violation(MqttDisconnectReasonCode.MalformedPacket, "PUBLISH shorter than its topic and packet identifier");
            return false;
        }

        var topic = TopicFrom(body.AsSpan(2, offset - 2));
        if (topic is null)
        {
            Violation(MqttDisconnectReasonCode.MalformedPacket, "the topic name is not well-formed UTF-8 or contains U+0000");
            return false;
        }

        ushort packetId = 0;
        if (qos > 0)
        {
            packetId = BinaryPrimitives.ReadUInt16BigEndian(body.AsSpan(offset));
            offset += 2;
            if (packetId == 0)
            {
                Violation(MqttDisconnectReasonCode.ProtocolError, "QoS 1/2 PUBLISH without a packet identifier");
                return false;
            }
        }

        return HandlePublish(topic, qos, (fixedHeader & 1) != 0, packetId, body.AsMemory(offset), null);
    }

    /// <summary>
    /// The topic as a string: the last one when the bytes are the same ASCII, else checked and decoded (and
    /// remembered); null when the bytes are not well-formed UTF-8 or hold U+0000 (malformed, MQTT-1.5.4-1/2).
    /// </summary>
    private string? TopicFrom(ReadOnlySpan<byte> utf8)
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

    /// <summary>An MQTT 5 PUBLISH, decoded by MQTTnet (MQTT 3.1.1 takes <see cref="HandlePublishV3"/>).</summary>
    private bool HandlePublish(MqttPublishPacket publish) =>
        HandlePublish(publish.Topic, (byte)publish.QualityOfServiceLevel, publish.Retain, publish.PacketIdentifier, ToMemory(publish.Payload), publish);

    /// <summary>
    /// A PUBLISH from this client; <paramref name="v5"/> is the decoded MQTT 5 packet (topic alias and properties),
    /// null for MQTT 3.1.1.
    /// </summary>
    private bool HandlePublish(string? topic, byte qos, bool retain, ushort packetId, ReadOnlyMemory<byte> payload, MqttPublishPacket? v5)
    {
        var session = _session!;
        if (qos > 2)
        {
            Violation(MqttDisconnectReasonCode.MalformedPacket, "QoS 3");
            return false;
        }

        if (v5 is { TopicAlias: not 0 } publish)
        {
            if (publish.TopicAlias > _context.Options.TopicAliasMaximum)
            {
                Violation(MqttDisconnectReasonCode.TopicAliasInvalid, $"topic alias {publish.TopicAlias} exceeds the maximum {_context.Options.TopicAliasMaximum}");
                return false;
            }

            _inboundAliases ??= [];
            if (string.IsNullOrEmpty(topic))
            {
                if (!_inboundAliases.TryGetValue(publish.TopicAlias, out topic))
                {
                    Violation(MqttDisconnectReasonCode.ProtocolError, $"unknown topic alias {publish.TopicAlias}");
                    return false;
                }
            }
            else
            {
                _inboundAliases[publish.TopicAlias] = topic;
            }
        }

        if (string.IsNullOrEmpty(topic) || !TopicNames.IsValidTopicName(topic))
        {
            Violation(MqttDisconnectReasonCode.TopicNameInvalid, "invalid topic name");
            return false;
        }

        if (ExceedsTopicLimits(topic))
        {
            _context.Metrics.LimitHit(LimitKind.TopicLimits);
            Violation(MqttDisconnectReasonCode.TopicNameInvalid, "topic longer or deeper than Iot:Mqtt:MaxTopicLength / MaxTopicLevels");
            return false;
        }

        var timestamp = _context.Time.GetTimestamp();
        var wait = _publishBucket.Take(timestamp);
        if (wait == TimeSpan.Zero)
        {
            _throttledSince = 0;
        }
        else
        {
            // Over the rate: slow the client down (stop reading); one that stays over it for too long is cut off.
            if (_throttledSince == 0)
            {
                _throttledSince = timestamp;
            }
            else if (_context.Time.GetElapsedTime(_throttledSince, timestamp) > TimeSpan.FromSeconds(_context.Options.PublishThrottleMaxSeconds))
            {
                _context.Metrics.LimitHit(LimitKind.PublishRateDisconnected);
                Violation(MqttDisconnectReasonCode.MessageRateTooHigh, $"publishing above {_context.Options.PublishRatePerSecond}/s for more than {_context.Options.PublishThrottleMaxSeconds} s");
                return false;
            }

            // Timers are coarse: let the debt build up to a sleep worth taking, so the rate the client gets is the
            // configured one rather than one message per timer tick. The bucket keeps the exact account.
            if (wait >= MinThrottle)
            {
                _context.Metrics.LimitHit(LimitKind.PublishRateThrottled);
                _throttle = wait;
            }
        }

        // A command to an id that can never be a device (or with an invalid command id) is refused like a denied
        // publish, not acknowledged and then never delivered.
        if (!CanPublish(topic) || Iot.Messaging.ResourceNames.IsInvalidCommandSubmission(topic))
        {
            // MQTT 5: PUBACK/PUBREC 0x87; MQTT 3.1.1 has no negative acknowledgement, so the message is dropped and counted.
            _context.Metrics.PublishDeniedOnce();
            if (qos > 0)
            {
                Interlocked.Increment(ref _inboundUnacknowledged);
                if (qos == 2 && !IsV5)
                {
                    session.TryBeginInboundQos2(packetId);
                }

                QueueAck(new PendingAck(packetId, qos, Task.CompletedTask, Denied: true));
            }

            return true;
        }

        if (qos > 0)
        {
            if (IsV5 && _inboundUnacknowledged >= _context.Options.ReceiveMaximum)
            {
                _context.Metrics.ReceiveMaximumExceededOnce();
                Violation(MqttDisconnectReasonCode.ReceiveMaximumExceeded, $"more than {_context.Options.ReceiveMaximum} unacknowledged QoS 1/2 publishes");
                return false;
            }

            if (qos == 2 && !session.TryBeginInboundQos2(packetId))
            {
                // A resent QoS 2 PUBLISH we already forwarded: acknowledge again, forward nothing (exactly once).
                Interlocked.Increment(ref _inboundUnacknowledged);
                QueueAck(new PendingAck(packetId, 2, Task.CompletedTask));
                return true;
            }

            Interlocked.Increment(ref _inboundUnacknowledged);
        }

        var now = _context.NowUnixMs;
        var message = new BrokerMessage
        {
            Topic = topic,
            Payload = payload,
            QualityOfService = qos,
            Retain = retain,
            ExpiresAtUnixMs = v5 is not { MessageExpiryInterval: > 0 } ? 0 : now + (v5.MessageExpiryInterval * 1000L),
            ContentType = v5?.ContentType,
            ResponseTopic = v5?.ResponseTopic,
            CorrelationData = v5?.CorrelationData,
            PayloadFormatIndicator = (byte)(v5?.PayloadFormatIndicator ?? 0),
            UserProperties = v5?.UserProperties,
            PublisherClientId = _clientId,
            ReceivedAtUnixMs = now,
            RetainedOwnerId = retain ? RetainedOwnerId() : 0,
        };

        _context.Metrics.MessageReceived();
        var durable = _broker.Dispatcher.Publish(message, _clientId, refuseUnretained: qos > 0 && IsV5);
        if (ReferenceEquals(durable, MessageDispatcher.RetainedQuotaExceeded))
        {
            // MQTT 5: PUBACK/PUBREC 0x97, the message was neither retained nor delivered; a PUBREC failure ends the flow.
            if (qos == 2)
            {
                session.EndInboundQos2(packetId);
            }

            QueueAck(new PendingAck(packetId, qos, Task.CompletedTask, Denied: true, QuotaExceeded: true));
            return true;
        }

        if (qos > 0)
        {
            QueueAck(new PendingAck(packetId, qos, durable));
        }

        return true;
    }

    private void HandlePubRel(ushort packetId)
    {
        var found = _session!.EndInboundQos2(packetId);
        if (found)
        {
            Interlocked.Decrement(ref _inboundUnacknowledged);
        }

        if (found || !IsV5)
        {
            SendAck(PacketHeaders.PubComp, packetId);
            return;
        }

        Send(new MqttPubCompPacket { PacketIdentifier = packetId, ReasonCode = MqttPubCompReasonCode.PacketIdentifierNotFound });
    }

    private void SendPubRelNotFound(ushort packetId) =>
        Send(new MqttPubRelPacket { PacketIdentifier = packetId, ReasonCode = MqttPubRelReasonCode.PacketIdentifierNotFound });

    /// <summary>
    /// PUBACK/PUBREC go out in the order the PUBLISH packets arrived (MQTT §4.6), each only after its durable writes
    /// committed. When nothing is waiting and the writes are done, the acknowledgement is sent at once.
    /// </summary>
    private void QueueAck(PendingAck ack)
    {
        if (Volatile.Read(ref _acksQueued) == 0 && ack.Durable.IsCompleted)
        {
            SendAck(ack);
            return;
        }

        Interlocked.Increment(ref _acksQueued);
        if (_acks is null)
        {
            var acks = _acks = Channel.CreateUnbounded<PendingAck>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            _ackTask = Task.Run(() => AckLoopAsync(acks.Reader));
        }

        _acks.Writer.TryWrite(ack);
    }

    private async Task AckLoopAsync(ChannelReader<PendingAck> reader)
    {
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var ack))
            {
                try
                {
                    await ack.Durable.ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Reported by SendAck through the faulted or cancelled task.
                }

                // Queued for the writer on the thread pool, not sent here: this continuation often runs on the store's
                // commit thread, which must not spend its time on the sockets of every publisher it acknowledges.
                SendAck(ack);

                Interlocked.Decrement(ref _acksQueued);
            }
        }
    }

    private void SendAck(PendingAck ack)
    {
        if (ack.Denied)
        {
            SendDeniedAck(ack);
            return;
        }

        var failed = ack.Durable.IsFaulted || ack.Durable.IsCanceled;
        if (failed)
        {
            BrokerLog.DurableWriteFailed(_broker.Logger, _clientId, ack.Durable.Exception?.GetBaseException() ?? new OperationCanceledException());
            if (!IsV5)
            {
                // MQTT 3.1.1 has no negative acknowledgement: close so that the client resends.
                Close(MqttDisconnectReasonCode.UnspecifiedError);
                return;
            }
        }

        if (ack.Qos == 1)
        {
            Interlocked.Decrement(ref _inboundUnacknowledged);
            if (!failed)
            {
                SendAck(PacketHeaders.PubAck, ack.PacketId);
                return;
            }

            Send(new MqttPubAckPacket { PacketIdentifier = ack.PacketId, ReasonCode = MqttPubAckReasonCode.UnspecifiedError });
        }
        else
        {
            if (!failed)
            {
                SendAck(PacketHeaders.PubRec, ack.PacketId);
                return;
            }

            // A failed PUBREC ends the QoS 2 flow (MQTT 5 §4.3.3); the client may publish again.
            _session?.EndInboundQos2(ack.PacketId);
            Interlocked.Decrement(ref _inboundUnacknowledged);
            Send(new MqttPubRecPacket { PacketIdentifier = ack.PacketId, ReasonCode = MqttPubRecReasonCode.UnspecifiedError });
        }
    }

    private void SendDeniedAck(PendingAck ack)
    {
        if (ack.Qos == 1)
        {
            Interlocked.Decrement(ref _inboundUnacknowledged);
            if (IsV5)
            {
                Send(new MqttPubAckPacket
                {
                    PacketIdentifier = ack.PacketId,
                    ReasonCode = ack.QuotaExceeded ? MqttPubAckReasonCode.QuotaExceeded : MqttPubAckReasonCode.NotAuthorized,
                });
            }
            else
            {
                SendAck(PacketHeaders.PubAck, ack.PacketId);
            }

            return;
        }

        if (IsV5)
        {
            // A PUBREC with a failure reason ends the QoS 2 flow.
            Interlocked.Decrement(ref _inboundUnacknowledged);
            Send(new MqttPubRecPacket
            {
                PacketIdentifier = ack.PacketId,
                ReasonCode = ack.QuotaExceeded ? MqttPubRecReasonCode.QuotaExceeded : MqttPubRecReasonCode.NotAuthorized,
            });
            return;
        }

        SendAck(PacketHeaders.PubRec, ack.PacketId);
    }

    /// <summary>True when the topic is longer (UTF-8 bytes) or deeper (levels) than configured.</summary>
    private bool ExceedsTopicLimits(string topic)
    {
        var options = _context.Options;
        if (topic.Length * 3 > options.MaxTopicLength && System.Text.Encoding.UTF8.GetByteCount(topic) > options.MaxTopicLength)
        {
            return true;
        }

        return topic.AsSpan().Count('/') + 1 > options.MaxTopicLevels;
    }

    private void WritePublish(PipeWriter output, Delivery delivery)
    {
        var qos = delivery.QualityOfService;
        if (qos == 0)
        {
            Interlocked.Decrement(ref _queuedQos0);
        }

        var dup = delivery.Sent && qos > 0;
        delivery.Sent = true;
        WritePublish(output, delivery.Message, qos, delivery.Retain, dup, delivery.PacketId, delivery.SubscriptionIdentifiers, delivery);
    }

    /// <summary>Writes a PUBLISH of <paramref name="message"/>; <paramref name="delivery"/> is null for a plain QoS 0 one.</summary>
    private void WritePublish(PipeWriter output, BrokerMessage message, byte qos, bool retain, bool dup, ushort packetId, uint[]? subscriptionIds, Delivery? delivery)
    {
        if (!IsV5)
        {
            // MQTT 3.1.1 has no properties and no client Maximum Packet Size: written directly, no packet object.
            var length = PublishEncoder.WriteV311(output, message.Topic, message.Payload.Span, qos, retain, dup, packetId);
            _context.Metrics.AddBytesSent(length);
            _context.Metrics.MessageSent();
            return;
        }

        var packet = new MqttPublishPacket
        {
            Topic = message.Topic,
            Payload = new ReadOnlySequence<byte>(message.Payload),
            QualityOfServiceLevel = (MqttQualityOfServiceLevel)qos,
            Retain = retain,
            Dup = dup,
            PacketIdentifier = packetId,
            ContentType = message.ContentType,
            ResponseTopic = message.ResponseTopic,
            CorrelationData = message.CorrelationData,
            PayloadFormatIndicator = (MqttPayloadFormatIndicator)message.PayloadFormatIndicator,
            MessageExpiryInterval = message.RemainingExpirySeconds(_context.NowUnixMs),
        };

        if (message.UserProperties is { Count: > 0 } properties)
        {
            packet.UserProperties = properties as List<MqttUserProperty> ?? [.. properties];
        }

        if (subscriptionIds is { Length: > 0 } ids)
        {
            packet.SubscriptionIdentifiers = [.. ids];
        }

        ApplyOutboundAlias(packet);
        var formatter = PacketFormatters.For(_protocolVersion);
        var encoded = formatter.Encode(packet);
        if (_clientMaxPacketSize != 0 && encoded.Length > _clientMaxPacketSize)
        {
            // MQTT 5 §3.1.2.11.4: discard it and behave as if it had been sent.
            formatter.Cleanup();
            _context.Metrics.MessageDropped(DropReason.PacketTooLarge);
            delivery?.Acknowledged?.TrySetResult(false);
            if (qos == 1)
            {
                _session?.OnPubAck(packetId);
            }
            else if (qos == 2)
            {
                _session?.OnPubRec(packetId, failed: true);
            }

            return;
        }

        output.Write(encoded.Packet);
        foreach (var segment in encoded.Payload)
        {
            output.Write(segment.Span);
        }

        formatter.Cleanup();
        _context.Metrics.AddBytesSent(encoded.Length);
        _context.Metrics.MessageSent();
    }

    private void ApplyOutboundAlias(MqttPublishPacket packet)
    {
        if (_clientTopicAliasMaximum == 0)
        {
            return;
        }

        _outboundAliases ??= new Dictionary<string, ushort>(StringComparer.Ordinal);
        if (_outboundAliases.TryGetValue(packet.Topic, out var alias))
        {
            packet.TopicAlias = alias;
            packet.Topic = string.Empty;
        }
        else if (_outboundAliases.Count < _clientTopicAliasMaximum)
        {
            alias = (ushort)(_outboundAliases.Count + 1);
            _outboundAliases[packet.Topic] = alias;
            packet.TopicAlias = alias;
        }
    }

    private static ReadOnlyMemory<byte> ToMemory(ReadOnlySequence<byte> payload) =>
        payload.IsSingleSegment ? payload.First : payload.ToArray();

    /// <summary>The owner id of this connection's retained messages (<see cref="RetainedQuota"/>), looked up once.</summary>
    private int RetainedOwnerId()
    {
        if (_retainedOwnerId == 0 && _principal is { } principal)
        {
            _retainedOwnerId = _broker.Retained.Quota.OwnerIdFor(principal);
        }

        return _retainedOwnerId;
    }

    private readonly record struct PendingAck(ushort PacketId, byte Qos, Task Durable, bool Denied = false, bool QuotaExceeded = false);
}
