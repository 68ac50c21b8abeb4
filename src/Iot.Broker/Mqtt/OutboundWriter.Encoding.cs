using System.Buffers;
using System.IO.Pipelines;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.Mqtt;

/// <summary>The writer's encoding: packets into the transport's output, PUBLISH with outbound topic aliases.</summary>
internal sealed partial class OutboundWriter
{
    private void Write(PipeWriter output, MqttPacket packet)
    {
        var formatter = PacketFormatters.For(ProtocolVersion);
        var buffer = formatter.Encode(packet);
        output.Write(buffer.Packet);
        foreach (var segment in buffer.Payload)
        {
            output.Write(segment.Span);
        }

        formatter.Cleanup();
        _context.Metrics.Add(BrokerCounter.BytesSent, buffer.Length);
    }

    private void WriteAck(PipeWriter output, int ack)
    {
        var span = output.GetSpan(4);
        span[0] = (byte)(ack >> 16);
        span[1] = 2;
        span[2] = (byte)(ack >> 8);
        span[3] = (byte)ack;
        output.Advance(4);
        _context.Metrics.Add(BrokerCounter.BytesSent, 4);
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
            _context.Metrics.Add(BrokerCounter.BytesSent, length);
            _context.Metrics.Add(BrokerCounter.MessagesSent);
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

        ApplyTopicAlias(packet);
        var formatter = PacketFormatters.For(ProtocolVersion);
        var encoded = formatter.Encode(packet);
        if (_clientMaxPacketSize != 0 && encoded.Length > _clientMaxPacketSize)
        {
            // MQTT 5 §3.1.2.11.4: discard it and behave as if it had been sent.
            formatter.Cleanup();
            _context.Metrics.MessageDropped(DropReason.PacketTooLarge);
            delivery?.Acknowledged?.TrySetResult(false);
            _owner.OnPublishDiscarded(qos, packetId);
            return;
        }

        output.Write(encoded.Packet);
        foreach (var segment in encoded.Payload)
        {
            output.Write(segment.Span);
        }

        formatter.Cleanup();
        _context.Metrics.Add(BrokerCounter.BytesSent, encoded.Length);
        _context.Metrics.Add(BrokerCounter.MessagesSent);
    }

    private void ApplyTopicAlias(MqttPublishPacket packet)
    {
        if (_clientTopicAliasMaximum == 0)
        {
            return;
        }

        _topicAliases ??= new Dictionary<string, ushort>(StringComparer.Ordinal);
        if (_topicAliases.TryGetValue(packet.Topic, out var alias))
        {
            packet.TopicAlias = alias;
            packet.Topic = string.Empty;
        }
        else if (_topicAliases.Count < _clientTopicAliasMaximum)
        {
            alias = (ushort)(_topicAliases.Count + 1);
            _topicAliases[packet.Topic] = alias;
            packet.TopicAlias = alias;
        }
    }
}
