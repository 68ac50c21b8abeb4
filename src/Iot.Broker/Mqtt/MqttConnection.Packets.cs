using System.Buffers.Binary;
using MQTTnet.Adapter;
using MQTTnet.Exceptions;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.Mqtt;

/// <summary>What the transports hand over (one framed packet at a time) and the dispatch of a packet by its type.</summary>
internal sealed partial class MqttConnection
{
    private static readonly MqttPingRespPacket PingResponse = new();

    /// <summary>
    /// Handles one framed packet (or a framing error) from the transport. False: the connection ends (the reason is
    /// logged and recorded); the transport then stops reading and calls <see cref="ShutdownAsync"/>.
    /// </summary>
    public async ValueTask<bool> OnFrameAsync(FramingStatus status, byte header, byte[] body, int total)
    {
        if (status == FramingStatus.TooLarge)
        {
            Context.Metrics.Add(BrokerCounter.PacketTooLarge);
            Violation(MqttDisconnectReasonCode.PacketTooLarge, $"packet of {total} bytes exceeds the maximum of {Context.Options.MaxPacketSize}");
            return false;
        }

        if (status == FramingStatus.Malformed)
        {
            Violation(MqttDisconnectReasonCode.MalformedPacket, "invalid Remaining Length");
            return false;
        }

        if (_closing)
        {
            return false;
        }

        _keepAlive.Heard();
        Context.Metrics.Add(BrokerCounter.BytesReceived, total);
        if (_session is not null && !IsV5 && header >> 4 == PacketHeaders.PublishType)
        {
            if (!HandlePublishV3(header, body))
            {
                return false;
            }
        }
        else if (!await HandlePacketAsync(new ReceivedMqttPacket(header, new ArraySegment<byte>(body), total)).ConfigureAwait(false))
        {
            return false;
        }

        if (_claimCheck is not null)
        {
            // A claim-checked publish: its blob is written (and its message dispatched) before the next packet is read.
            await AwaitClaimCheckAsync().ConfigureAwait(false);
        }

        if (_acks is { MustWait: true })
        {
            // An MQTT 3.1.1 client ahead of the store by the bound: read nothing more until it has caught up.
            await _acks!.WaitForRoomAsync().ConfigureAwait(false);
        }

        if (_backlog == BacklogRole.Feeds && Context.Backlog.IsSaturated)
        {
            // Load leveling: the durable backlog is full and this client's last publish added to it. Read nothing more
            // (TCP slows the client; its PUBACKs wait for the store) until the backlog is under its low-water mark.
            _backlog = BacklogRole.Paused;
            try
            {
                await Context.Backlog.WaitForRoomAsync(() => _closing).ConfigureAwait(false);
            }
            finally
            {
                _backlog = BacklogRole.Feeds;
            }
        }

        if (_guard.TakeThrottle() is var wait && wait > TimeSpan.Zero)
        {
            // Over the publish rate: stop reading from this client until its bucket is back in credit.
            await Task.Delay(wait, Context.Time).ConfigureAwait(false);
        }

        return !_closing;
    }

    /// <summary>
    /// Handles a PUBACK, PUBREC, PUBREL or PUBCOMP with a two-byte body (a packet identifier: success in MQTT 5 too)
    /// or a PINGREQ straight from the receive buffer, without decoding it into an object. False when it is another
    /// packet, or one that needs a closer look (no session yet, closing, identifier 0, reason codes): the caller then
    /// frames it as usual and <see cref="OnFrameAsync"/> handles it.
    /// </summary>
    public bool TryHandleInline(byte header, ReadOnlySpan<byte> body, int total)
    {
        if (_session is not { } session || _closing)
        {
            return false;
        }

        ushort packetId = 0;
        if (header == PacketHeaders.PingReq)
        {
            if (!body.IsEmpty)
            {
                return false;
            }
        }
        else if (header is not (PacketHeaders.PubAck or PacketHeaders.PubRec or PacketHeaders.PubRel or PacketHeaders.PubComp)
            || body.Length != 2 || (packetId = BinaryPrimitives.ReadUInt16BigEndian(body)) == 0)
        {
            return false;
        }

        _keepAlive.Heard();
        Context.Metrics.Add(BrokerCounter.BytesReceived, total);
        switch (header)
        {
            case PacketHeaders.PubAck:
                session.OnPubAck(packetId);
                break;
            case PacketHeaders.PubRec:
                if (!session.OnPubRec(packetId, failed: false))
                {
                    SendPubRelNotFound(packetId);
                }

                break;
            case PacketHeaders.PubRel:
                HandlePubRel(packetId);
                break;
            case PacketHeaders.PubComp:
                session.OnPubComp(packetId);
                break;
            default:
                Send(PingResponse);
                break;
        }

        return true;
    }

    private async ValueTask<bool> HandlePacketAsync(ReceivedMqttPacket received)
    {
        MqttPacket packet;
        if (_session is null)
        {
            return await HandleFirstPacketAsync(received).ConfigureAwait(false);
        }

        // Before MQTTnet decodes it: its decoder would turn ill-formed UTF-8 into U+FFFD.
        if (PacketStrings.Check(received.FixedHeader, received.Body, IsV5) is { } illFormed)
        {
            Violation(MqttDisconnectReasonCode.MalformedPacket, illFormed);
            return false;
        }

        try
        {
            packet = PacketFormatters.For(ProtocolVersion).Decode(received);
        }
        catch (Exception ex) when (ex is MqttProtocolViolationException or ArgumentException or InvalidOperationException or IndexOutOfRangeException or FormatException or OverflowException)
        {
            Violation(MqttDisconnectReasonCode.MalformedPacket, ex.Message);
            return false;
        }

        if (MissingRequiredPart(packet) is { } problem)
        {
            Violation(MqttDisconnectReasonCode.ProtocolError, problem);
            return false;
        }

        switch (packet)
        {
            case MqttPublishPacket publish:
                return HandlePublish(publish, received.Body);
            case MqttPubAckPacket ack:
                _session.OnPubAck(ack.PacketIdentifier);
                return true;
            case MqttPubRecPacket rec:
                if (!_session.OnPubRec(rec.PacketIdentifier, (int)rec.ReasonCode >= 0x80))
                {
                    SendPubRelNotFound(rec.PacketIdentifier);
                }

                return true;
            case MqttPubRelPacket rel:
                HandlePubRel(rel.PacketIdentifier);
                return true;
            case MqttPubCompPacket comp:
                _session.OnPubComp(comp.PacketIdentifier);
                return true;
            case MqttSubscribePacket subscribe:
                return await HandleSubscribeAsync(subscribe).ConfigureAwait(false);
            case MqttUnsubscribePacket unsubscribe:
                await HandleUnsubscribeAsync(unsubscribe).ConfigureAwait(false);
                return true;
            case MqttPingReqPacket:
                Send(PingResponse);
                return true;
            case MqttDisconnectPacket disconnect:
                HandleDisconnect(disconnect);
                return false;
            case MqttConnectPacket:
                Violation(MqttDisconnectReasonCode.ProtocolError, "a second CONNECT");
                return false;
            default:
                Violation(MqttDisconnectReasonCode.ProtocolError, $"unexpected {packet.GetType().Name}");
                return false;
        }
    }

    /// <summary>What a decoded packet lacks that MQTT requires (MQTT 5 §2.2.1, §3.8.3, §3.10.3); null when complete.</summary>
    private static string? MissingRequiredPart(MqttPacket packet) => packet switch
    {
        MqttPublishPacket { QualityOfServiceLevel: > 0, PacketIdentifier: 0 } => "QoS 1/2 PUBLISH without a packet identifier",
        MqttPacketWithIdentifier { PacketIdentifier: 0 } and not MqttPublishPacket => $"{packet.GetType().Name} without a packet identifier",
        MqttSubscribePacket { TopicFilters.Count: 0 } => "SUBSCRIBE without a topic filter",
        MqttUnsubscribePacket { TopicFilters.Count: 0 } => "UNSUBSCRIBE without a topic filter",
        _ => null,
    };

    /// <summary>Ends the connection for a protocol violation: DISCONNECT with the reason (MQTT 5) and close.</summary>
    private void Violation(MqttDisconnectReasonCode reason, string detail)
    {
        Context.Metrics.Add(BrokerCounter.ProtocolErrors);
        var who = ClientId.Length > 0 ? ClientId : _transport.ConnectionId;
        BrokerLog.ProtocolViolation(_broker.Logger, who, reason, detail);
        _closeReason = reason;
    }
}
