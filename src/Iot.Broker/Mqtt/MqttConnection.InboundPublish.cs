using System.Buffers;
using System.Buffers.Binary;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.Mqtt;

/// <summary>
/// A PUBLISH from the client (QoS 2's PUBREL included) and the acknowledgements it is owed. The checks are the
/// <see cref="InboundPublishGuard"/>'s, the order of acknowledgements the <see cref="AckSequencer"/>'s; what goes out
/// to the client is <see cref="OutboundWriter"/>'s.
/// </summary>
internal sealed partial class MqttConnection
{
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

        var topic = _guard.TopicFrom(body.AsSpan(2, offset - 2));
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

    /// <summary>An MQTT 5 PUBLISH, decoded by MQTTnet (MQTT 3.1.1 takes <see cref="HandlePublishV3"/>) from <paramref name="body"/>.</summary>
    private bool HandlePublish(MqttPublishPacket publish, ArraySegment<byte> body)
    {
        if (publish.TopicAlias == 0 && IsV5 && PublishProperties.HasTopicAliasZero(body, (int)publish.QualityOfServiceLevel))
        {
            Violation(MqttDisconnectReasonCode.TopicAliasInvalid, "topic alias 0 [MQTT-3.3.2-8]");
            return false;
        }

        return HandlePublish(publish.Topic, (byte)publish.QualityOfServiceLevel, publish.Retain, publish.PacketIdentifier, ToMemory(publish.Payload), publish);
    }

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

        if (!_guard.TryAcceptTopic(ref topic, v5?.TopicAlias ?? 0, out var refused, out var detail))
        {
            Violation(refused, detail!);
            return false;
        }

        if (!_guard.TryTakeRate())
        {
            Violation(MqttDisconnectReasonCode.MessageRateTooHigh, $"publishing above {Context.Options.PublishRatePerSecond}/s for more than {Context.Options.PublishThrottleMaxSeconds} s");
            return false;
        }

        // A command to an id that can never be a device (or with an invalid command id) is refused like a denied
        // publish, not acknowledged and then never delivered.
        if (!CanPublish(topic!) || Iot.Messaging.ResourceNames.IsInvalidCommandSubmission(topic!))
        {
            // MQTT 5: PUBACK/PUBREC 0x87; MQTT 3.1.1 has no negative acknowledgement, so the message is dropped and counted.
            Context.Metrics.Add(BrokerCounter.PublishDenied);
            if (qos > 0)
            {
                _guard.Received();
                if (qos == 2 && !IsV5)
                {
                    session.TryBeginInboundQos2(packetId);
                }

                EnqueueAck(new PendingAck(packetId, qos, Task.CompletedTask, Denied: true));
            }

            return true;
        }

        if (qos > 0)
        {
            if (IsV5 && _guard.AtReceiveMaximum)
            {
                Context.Metrics.Add(BrokerCounter.ReceiveMaximumExceeded);
                Violation(MqttDisconnectReasonCode.ReceiveMaximumExceeded, $"more than {Context.Options.ReceiveMaximum} unacknowledged QoS 1/2 publishes");
                return false;
            }

            _guard.Received();
            if (qos == 2 && !session.TryBeginInboundQos2(packetId))
            {
                // A resent QoS 2 PUBLISH we already forwarded: acknowledge again, forward nothing (exactly once).
                EnqueueAck(new PendingAck(packetId, 2, Task.CompletedTask));
                return true;
            }
        }

        var now = Context.NowUnixMs;
        var message = new BrokerMessage
        {
            Topic = topic!,
            Payload = payload,
            QualityOfService = qos,
            Retain = retain,
            ExpiresAtUnixMs = v5 is not { MessageExpiryInterval: > 0 } ? 0 : now + (v5.MessageExpiryInterval * 1000L),
            ContentType = v5?.ContentType,
            ResponseTopic = v5?.ResponseTopic,
            CorrelationData = v5?.CorrelationData,
            PayloadFormatIndicator = (byte)(v5?.PayloadFormatIndicator ?? 0),
            UserProperties = v5?.UserProperties,
            SourceClientId = ClientId,
            ReceivedAtUnixMs = now,
            RetainedOwnerId = retain ? RetainedOwnerId() : 0,
        };

        Context.Metrics.Add(BrokerCounter.MessagesReceived);
        if (_broker.ClaimCheck is { } claims && !retain && claims.AppliesToTopic(message.Topic, payload.Length))
        {
            // The blob is written before the message: OnFrameAsync awaits this before it reads the next packet, so the
            // client's messages keep their order.
            _claimCheck = PublishClaimCheckedAsync(claims, message, packetId);
            return true;
        }

        Dispatch(message, packetId);
        return true;
    }

    /// <summary>Hands <paramref name="message"/> to the dispatcher and queues its acknowledgement after its durable writes.</summary>
    private void Dispatch(BrokerMessage message, ushort packetId)
    {
        var session = _session!;
        var qos = message.QualityOfService;

        // Load leveling, QoS 0 policy: while the durable backlog is full (or this connection's is), a QoS 0 publish is
        // delivered to subscribers but not offered to the routes, so that it neither adds to the backlog nor stops
        // the reading; counted as dropped (reason durable_backlog). QoS 1/2 publishers are paused instead (OnFrameAsync).
        var route = qos > 0 || (!Context.Backlog.IsSaturated && _acks is not { HasRoom: false });
        var durable = _broker.Dispatcher.PublishAsync(message, ClientId, refuseUnretained: qos > 0 && IsV5, route);
        if (ReferenceEquals(durable, MessageDispatcher.RetainedQuotaExceeded))
        {
            // MQTT 5: PUBACK/PUBREC 0x97, the message was neither retained nor delivered; a PUBREC failure ends the flow.
            if (qos == 2)
            {
                session.EndInboundQos2(packetId);
            }

            EnqueueAck(new PendingAck(packetId, qos, Task.CompletedTask, Denied: true, QuotaExceeded: true));
            return;
        }

        if (qos == 2 && session.QueueInStream)
        {
            // Cluster mode: the packet id is in the session record before PUBREC, so a resend after a node loss is not forwarded twice.
            durable = Task.WhenAll(durable, Context.Store.SetInboundQos2Async(session.ClientId, session.SnapshotInboundQos2()));
        }

        if (qos > 0)
        {
            var ack = Tracked(new PendingAck(packetId, qos, durable), message.Payload.Length);
            _backlog = ack.BacklogBytes >= 0 ? BacklogRole.Feeds : BacklogRole.None;
            EnqueueAck(ack);
        }
        else if (!durable.IsCompleted && _acks is not { HasRoom: false })
        {
            // Acknowledged to nobody: waits in the sequencer only so that the backlog counts it until its writes are done.
            EnqueueAck(Tracked(new PendingAck(0, 0, durable), message.Payload.Length));
        }
    }

    /// <summary><paramref name="ack"/>, counted in the <see cref="DurableBacklog"/> when its writes are still running.</summary>
    private PendingAck Tracked(PendingAck ack, int bytes)
    {
        if (ack.Durable.IsCompleted)
        {
            return ack;
        }

        Context.Backlog.Add(bytes);
        return ack with { BacklogBytes = bytes };
    }

    /// <summary>The writes of <paramref name="ack"/> are done (or it is dropped while closing): the backlog no longer counts it.</summary>
    internal void ReleaseBacklog(PendingAck ack)
    {
        if (ack.BacklogBytes >= 0)
        {
            Context.Backlog.Complete(ack.BacklogBytes);
        }
    }

    /// <summary>The writes of <paramref name="ack"/> are done and its turn came: out of the backlog, and acknowledged (QoS 1/2).</summary>
    internal void FinishAck(PendingAck ack)
    {
        ReleaseBacklog(ack);
        if (ack.Qos != 0)
        {
            SendAck(ack);
        }
    }

    /// <summary>Sends the acknowledgement now when nothing waits before it and its writes are done, else in its turn.</summary>
    private void EnqueueAck(PendingAck ack)
    {
        if (_acks is null && ack.Durable.IsCompleted)
        {
            FinishAck(ack);
            return;
        }

        (_acks ??= new AckSequencer(this, Context)).Enqueue(ack);
    }

    private void HandlePubRel(ushort packetId)
    {
        var found = _session!.EndInboundQos2(packetId);
        if (found)
        {
            _guard.Acknowledged();
            if (_session.QueueInStream)
            {
                _ = Context.Store.SetInboundQos2Async(_session.ClientId, _session.SnapshotInboundQos2());
            }
        }

        if (found || !IsV5)
        {
            _writer.SendAck(PacketHeaders.PubComp, packetId);
            return;
        }

        Send(new MqttPubCompPacket { PacketIdentifier = packetId, ReasonCode = MqttPubCompReasonCode.PacketIdentifierNotFound });
    }

    private void SendPubRelNotFound(ushort packetId) =>
        Send(new MqttPubRelPacket { PacketIdentifier = packetId, ReasonCode = MqttPubRelReasonCode.PacketIdentifierNotFound });

    /// <summary>Sends the PUBACK or PUBREC <paramref name="ack"/> stands for (its turn came: <see cref="AckSequencer"/>).</summary>
    internal void SendAck(PendingAck ack)
    {
        if (ack.Denied)
        {
            SendDeniedAck(ack);
            return;
        }

        var failed = ack.Durable.IsFaulted || ack.Durable.IsCanceled;
        if (failed)
        {
            BrokerLog.DurableWriteFailed(_broker.Logger, ClientId, ack.Durable.Exception?.GetBaseException() ?? new OperationCanceledException());
            if (!IsV5 || Context.CloseOnFailedWrite)
            {
                // MQTT 3.1.1 has no negative acknowledgement, and in cluster mode a JetStream error or timeout must not
                // end the message either: close, acknowledging nothing, so that the client resends.
                Close(MqttDisconnectReasonCode.UnspecifiedError);
                return;
            }
        }

        if (ack.Qos == 1)
        {
            _guard.Acknowledged();
            if (!failed)
            {
                _writer.SendAck(PacketHeaders.PubAck, ack.PacketId);
                return;
            }

            Send(new MqttPubAckPacket { PacketIdentifier = ack.PacketId, ReasonCode = MqttPubAckReasonCode.UnspecifiedError });
        }
        else
        {
            if (!failed)
            {
                _writer.SendAck(PacketHeaders.PubRec, ack.PacketId);
                return;
            }

            // A failed PUBREC ends the QoS 2 flow (MQTT 5 §4.3.3); the client may publish again.
            _session?.EndInboundQos2(ack.PacketId);
            _guard.Acknowledged();
            Send(new MqttPubRecPacket { PacketIdentifier = ack.PacketId, ReasonCode = MqttPubRecReasonCode.UnspecifiedError });
        }
    }

    private void SendDeniedAck(PendingAck ack)
    {
        if (ack.Qos == 1)
        {
            _guard.Acknowledged();
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
                _writer.SendAck(PacketHeaders.PubAck, ack.PacketId);
            }

            return;
        }

        if (IsV5)
        {
            // A PUBREC with a failure reason ends the QoS 2 flow.
            _guard.Acknowledged();
            Send(new MqttPubRecPacket
            {
                PacketIdentifier = ack.PacketId,
                ReasonCode = ack.QuotaExceeded ? MqttPubRecReasonCode.QuotaExceeded : MqttPubRecReasonCode.NotAuthorized,
            });
            return;
        }

        _writer.SendAck(PacketHeaders.PubRec, ack.PacketId);
    }

    private static ReadOnlyMemory<byte> ToMemory(ReadOnlySequence<byte> payload) =>
        payload.IsSingleSegment ? payload.First : payload.ToArray();

    /// <summary>The owner id of this connection's retained messages (<see cref="RetainedQuota"/>), looked up once.</summary>
    private int RetainedOwnerId() => _guard.RetainedOwnerId(_principal, _broker.Retained.Quota);
}
