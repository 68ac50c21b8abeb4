using System.Buffers;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Robustness;

/// <summary>Building the well-formed packets and damaging their bytes.</summary>
internal sealed partial class PacketMutator
{
    private MqttPacket Build(MqttControlPacketType type, MqttProtocolVersion version, Mutation mutation)
    {
        var v5 = version == MqttProtocolVersion.V500;
        var marked = mutation is Mutation.InvalidUtf8 or Mutation.NullCharacter;
        string Text(string value) => marked ? value + Marker : value;
        switch (type)
        {
            case MqttControlPacketType.Connect:
                return BuildConnect(v5, mutation, Text);
            case MqttControlPacketType.Publish:
                return BuildPublish(v5, mutation, Text);
            case MqttControlPacketType.Subscribe:
                var subscribe = new MqttSubscribePacket { PacketIdentifier = NextPacketId(), TopicFilters = [], UserProperties = UserProperties(v5, Text) };
                for (var i = mutation == Mutation.NoTopicFilters ? 1 : _random.Next(1, 4); i > 0; i--)
                {
                    var filter = mutation switch
                    {
                        Mutation.EmptyTopic when i == 1 => string.Empty,
                        Mutation.InvalidTopicFilter when i == 1 => BadTopicFilter(),
                        _ => Text(TopicFilter()),
                    };
                    subscribe.TopicFilters.Add(new MqttTopicFilter
                    {
                        Topic = filter,
                        QualityOfServiceLevel = (MqttQualityOfServiceLevel)_random.Next(3),
                        NoLocal = v5 && !filter.StartsWith("$share/", StringComparison.Ordinal) && _random.Next(4) == 0,
                        RetainAsPublished = v5 && _random.Next(4) == 0,
                        RetainHandling = v5 ? (MqttRetainHandling)_random.Next(3) : MqttRetainHandling.SendAtSubscribe,
                    });
                }

                if (v5 && _random.Next(4) == 0)
                {
                    subscribe.SubscriptionIdentifier = (uint)_random.Next(1, 1000);
                }

                return subscribe;
            case MqttControlPacketType.Unsubscribe:
                var unsubscribe = new MqttUnsubscribePacket { PacketIdentifier = NextPacketId(), TopicFilters = [], UserProperties = UserProperties(v5, Text) };
                for (var i = mutation == Mutation.NoTopicFilters ? 1 : _random.Next(1, 4); i > 0; i--)
                {
                    unsubscribe.TopicFilters.Add(mutation switch
                    {
                        Mutation.EmptyTopic when i == 1 => string.Empty,
                        Mutation.InvalidTopicFilter when i == 1 => BadTopicFilter(),
                        _ => Text(TopicFilter()),
                    });
                }

                return unsubscribe;
            case MqttControlPacketType.PubAck:
                return new MqttPubAckPacket
                {
                    PacketIdentifier = AckId(),
                    ReasonCode = v5 && _random.Next(4) == 0 ? MqttPubAckReasonCode.UnspecifiedError : MqttPubAckReasonCode.Success,
                    ReasonString = ReasonString(v5, marked, Text),
                    UserProperties = UserProperties(v5, Text),
                };
            case MqttControlPacketType.PubRec:
                return new MqttPubRecPacket
                {
                    PacketIdentifier = AckId(),
                    ReasonCode = v5 && _random.Next(4) == 0 ? MqttPubRecReasonCode.ImplementationSpecificError : MqttPubRecReasonCode.Success,
                    ReasonString = ReasonString(v5, marked, Text),
                    UserProperties = UserProperties(v5, Text),
                };
            case MqttControlPacketType.PubRel:
                return new MqttPubRelPacket
                {
                    PacketIdentifier = AckId(),
                    ReasonCode = v5 && _random.Next(4) == 0 ? MqttPubRelReasonCode.PacketIdentifierNotFound : MqttPubRelReasonCode.Success,
                    ReasonString = ReasonString(v5, marked, Text),
                    UserProperties = UserProperties(v5, Text),
                };
            case MqttControlPacketType.PubComp:
                return new MqttPubCompPacket
                {
                    PacketIdentifier = AckId(),
                    ReasonCode = v5 && _random.Next(4) == 0 ? MqttPubCompReasonCode.PacketIdentifierNotFound : MqttPubCompReasonCode.Success,
                    ReasonString = ReasonString(v5, marked, Text),
                    UserProperties = UserProperties(v5, Text),
                };
            case MqttControlPacketType.Disconnect:
                return new MqttDisconnectPacket
                {
                    ReasonCode = v5 && _random.Next(2) == 0 ? MqttDisconnectReasonCode.DisconnectWithWillMessage : MqttDisconnectReasonCode.NormalDisconnection,
                    ReasonString = ReasonString(v5, marked, Text),
                    UserProperties = UserProperties(v5, Text),
                };
            case MqttControlPacketType.Auth:
                return new MqttAuthPacket
                {
                    ReasonCode = MqttAuthenticateReasonCode.ContinueAuthentication,
                    AuthenticationMethod = Text("SCRAM-SHA-1"),
                    AuthenticationData = [1, 2, 3],
                    ReasonString = ReasonString(v5, marked, Text),
                };
            default:
                return new MqttPingReqPacket();
        }
    }

    private MqttConnectPacket BuildConnect(bool v5, Mutation mutation, Func<string, string> text)
    {
        var connect = new MqttConnectPacket
        {
            ClientId = _random.Next(20) == 0 ? string.Empty : text(ClientId()),
            CleanSession = true,
            KeepAlivePeriod = (ushort)_random.Next(0, 120),
        };
        if (_random.Next(10) == 0)
        {
            // Unknown identities: exercises the authentication failure path.
            connect.Username = text("fuzz-user");
            connect.Password = _random.Next(2) == 0 ? [1, 2, 3, 4] : null;
        }

        if (mutation == Mutation.WildcardInTopicName || _random.Next(6) == 0)
        {
            connect.WillFlag = true;
            connect.WillTopic = mutation == Mutation.WildcardInTopicName ? WildcardTopicName() : text(TopicName());
            connect.WillMessage = [0x77];
            connect.WillQoS = (MqttQualityOfServiceLevel)_random.Next(3);
            if (v5)
            {
                connect.WillDelayInterval = (uint)_random.Next(3);
                connect.WillContentType = _random.Next(2) == 0 ? text("text/plain") : null;
                connect.WillUserProperties = UserProperties(v5, text);
            }
        }

        if (v5)
        {
            connect.ReceiveMaximum = (ushort)_random.Next(1, 100);
            connect.MaximumPacketSize = (uint)_random.Next(128, 1 << 20);
            connect.TopicAliasMaximum = (ushort)_random.Next(0, 16);
            connect.RequestProblemInformation = _random.Next(2) == 0;
            connect.UserProperties = UserProperties(v5, text);
        }

        return connect;
    }

    private MqttPublishPacket BuildPublish(bool v5, Mutation mutation, Func<string, string> text)
    {
        var qos = mutation == Mutation.PacketIdZero ? _random.Next(1, 3) : _random.Next(3);
        var payload = mutation == Mutation.NearMaxPacketSize ? new byte[_maxPacketSize - 64 + _random.Next(128)] : Payload();
        var publish = new MqttPublishPacket
        {
            Topic = mutation switch
            {
                Mutation.WildcardInTopicName => WildcardTopicName(),
                Mutation.EmptyTopic => string.Empty,
                _ => text(TopicName()),
            },
            QualityOfServiceLevel = (MqttQualityOfServiceLevel)qos,
            PacketIdentifier = qos > 0 ? NextPacketId() : (ushort)0,
            Retain = _random.Next(10) == 0,
            Dup = qos > 0 && _random.Next(8) == 0,
            Payload = new ReadOnlySequence<byte>(payload),
        };
        if (!v5)
        {
            return publish;
        }

        if (mutation != Mutation.EmptyTopic && _random.Next(4) == 0)
        {
            publish.TopicAlias = (ushort)_random.Next(1, 9);
            if (mutation == Mutation.None && _random.Next(3) == 0)
            {
                // Relies on an alias set earlier on this connection; when none was, the broker must refuse it.
                publish.Topic = string.Empty;
            }
        }

        publish.ContentType = _random.Next(4) == 0 ? text("text/plain") : null;
        publish.ResponseTopic = _random.Next(6) == 0 ? text(TopicName()) : null;
        publish.CorrelationData = _random.Next(6) == 0 ? [1, 2, 3] : null;
        publish.MessageExpiryInterval = _random.Next(6) == 0 ? (uint)_random.Next(1, 60) : 0;
        publish.PayloadFormatIndicator = _random.Next(6) == 0 ? MqttPayloadFormatIndicator.CharacterData : MqttPayloadFormatIndicator.Unspecified;
        publish.UserProperties = UserProperties(v5, text);
        return publish;
    }

    private ushort AckId() => (ushort)_random.Next(1, 65536);

    private string? ReasonString(bool v5, bool marked, Func<string, string> text) =>
        v5 && (marked || _random.Next(4) == 0) ? text("r") : null;

    private byte[]? Apply(Mutation mutation, MqttControlPacketType type, MqttProtocolVersion version, byte[] packet)
    {
        var headerLength = ReadFixedHeader(packet);
        var body = packet.AsSpan(headerLength);
        switch (mutation)
        {
            case Mutation.TruncatedBody:
                return body.Length == 0 ? null : Frame(packet[0], body[.._random.Next(body.Length)]);
            case Mutation.LengthTooShort:
                return body.Length == 0 ? null : [packet[0], .. VariableByteInteger(body.Length - _random.Next(1, Math.Min(body.Length, 16) + 1)), .. body];
            case Mutation.LengthTooLong:
                return [packet[0], .. VariableByteInteger(body.Length + _random.Next(1, 64)), .. body];
            case Mutation.LengthFiveBytes:
                return [packet[0], (byte)(0x80 | _random.Next(128)), (byte)(0x80 | _random.Next(128)), (byte)(0x80 | _random.Next(128)), (byte)(0x80 | _random.Next(128)), (byte)_random.Next(128), .. body];
            case Mutation.LengthHuge:
                return [packet[0], .. VariableByteInteger(_random.Next(2) == 0 ? 268_435_455 : _random.Next(_maxPacketSize, 268_435_455)), .. body];
            case Mutation.LengthNotMinimal:
                var length = VariableByteInteger(body.Length);
                if (length.Length == 4)
                {
                    return null;
                }

                // The same value with needless continuation bytes: 5 as 0x85 0x00 (the spec requires the shortest form).
                length[^1] |= 0x80;
                var padding = Enumerable.Repeat((byte)0x80, _random.Next(0, 4 - length.Length)).Append((byte)0x00);
                return [packet[0], .. length, .. padding, .. body];
            case Mutation.FlippedBits:
                return FlipBits(packet);
            case Mutation.WrongFlags:
                return [WrongFlags(type, packet[0]), .. packet.AsSpan(1)];
            case Mutation.ForbiddenPacketType:
                // Reserved type 0, server-to-client types, and AUTH which MQTT 3.1.1 does not have.
                int[] forbidden = version == MqttProtocolVersion.V500 ? [0, 2, 9, 11, 13] : [0, 2, 9, 11, 13, 15];
                return [(byte)(forbidden[_random.Next(forbidden.Length)] << 4), .. packet.AsSpan(1)];
            case Mutation.InvalidUtf8:
                return ReplaceMarkers(packet, () => IllFormedUtf8[_random.Next(IllFormedUtf8.Length)]);
            case Mutation.NullCharacter:
                return ReplaceMarkers(packet, () => _random.Next(2) == 0 ? [0x00, 0x41, 0x41, 0x41] : [0x41, 0x41, 0x41, 0x00]);
            case Mutation.WildcardInTopicName or Mutation.EmptyTopic or Mutation.InvalidTopicFilter or Mutation.NearMaxPacketSize:
                return packet; // Built that way.
            case Mutation.BogusPropertyId:
                var junk = new byte[_random.Next(0, 5)];
                _random.NextBytes(junk);
                return EditProperties(packet, type, properties => [.. properties, BogusPropertyId(), .. junk]);
            case Mutation.DuplicateProperty:
                var single = Pick(SingleValuedProperties(type));
                return EditProperties(packet, type, properties => [.. properties, .. single, .. single]);
            case Mutation.InvalidPropertyValue:
                var invalid = Pick(InvalidProperties(type));
                return EditProperties(packet, type, properties => [.. properties, .. invalid]);
            case Mutation.PropertyLengthMismatch:
                return EditProperties(packet, type, properties => properties, count => _random.Next(3) switch
                {
                    0 when count > 0 => _random.Next(count),
                    1 => 268_435_455,
                    _ => count + _random.Next(1, 9),
                });
            case Mutation.PacketIdZero:
                var idOffset = headerLength + (type == MqttControlPacketType.Publish ? 2 + ReadUInt16(packet, headerLength) : 0);
                if (idOffset + 2 > packet.Length)
                {
                    return null;
                }

                var zeroed = packet.ToArray();
                zeroed[idOffset] = zeroed[idOffset + 1] = 0;
                return zeroed;
            case Mutation.BadSubscriptionOptions:
                var options = FirstTopicFilterOffset(packet, headerLength, version);
                options += 2 + ReadUInt16(packet, options);
                var bad = packet.ToArray();
                bad[options] = version != MqttProtocolVersion.V500 ? (byte)_random.Next(3, 256) : _random.Next(3) switch
                {
                    0 => (byte)(bad[options] | 0x03), // QoS 3
                    1 => (byte)(bad[options] | 0x30), // Retain Handling 3
                    _ => (byte)(bad[options] | 0xC0), // reserved bits
                };
                return bad;
            case Mutation.NoTopicFilters:
                return Frame(packet[0], packet.AsSpan(headerLength, FirstTopicFilterOffset(packet, headerLength, version) - headerLength));
            default:
                return null;
        }
    }

    private byte[] FlipBits(byte[] packet)
    {
        var headerLength = ReadFixedHeader(packet);
        var flipped = packet.ToArray();
        for (var i = _random.Next(1, 5); i > 0; i--)
        {
            // Mostly inside the body, so that the framing holds and the decoder sees the damage.
            var index = flipped.Length > headerLength && _random.Next(5) != 0 ? _random.Next(headerLength, flipped.Length) : _random.Next(flipped.Length);
            flipped[index] ^= (byte)(1 << _random.Next(8));
        }

        return flipped;
    }

    private byte WrongFlags(MqttControlPacketType type, byte current)
    {
        if (type == MqttControlPacketType.Publish)
        {
            // QoS 3, or DUP set on QoS 0.
            return _random.Next(2) == 0 ? (byte)(current | 0b0110) : (byte)((current & 0xF1) | 0b1000);
        }

        var required = type is MqttControlPacketType.Subscribe or MqttControlPacketType.Unsubscribe or MqttControlPacketType.PubRel ? 0b0010 : 0;
        int flags;
        do
        {
            flags = _random.Next(16);
        }
        while (flags == required);
        return (byte)(((int)type << 4) | flags);
    }

    /// <summary>Overwrites the markers with 4 bad bytes each (at least one marker, each of the others with probability 1/2).</summary>
    private byte[]? ReplaceMarkers(byte[] packet, Func<byte[]> replacement)
    {
        var copy = packet.ToArray();
        var replaced = false;
        for (var at = IndexOfMarker(copy, 0); at >= 0; at = IndexOfMarker(copy, at + MarkerBytes.Length))
        {
            if (!replaced || _random.Next(2) == 0)
            {
                replacement().CopyTo(copy, at);
                replaced = true;
            }
        }

        return replaced ? copy : null;
    }

    private static int IndexOfMarker(byte[] data, int start)
    {
        var found = data.AsSpan(start).IndexOf(MarkerBytes);
        return found < 0 ? -1 : start + found;
    }

    /// <summary>Rewrites the MQTT 5 property block of <paramref name="packet"/>; null for packets without one.</summary>
    private static byte[]? EditProperties(byte[] packet, MqttControlPacketType type, Func<byte[], byte[]> edit, Func<int, int>? declaredLength = null)
    {
        var headerLength = ReadFixedHeader(packet);
        var body = packet.AsSpan(headerLength).ToArray();
        int offset;
        switch (type)
        {
            case MqttControlPacketType.Connect:
                offset = 10; // protocol name (6), level, flags, keep alive (2)
                break;
            case MqttControlPacketType.Publish:
                offset = 2 + ReadUInt16(body, 0) + (((packet[0] >> 1) & 3) > 0 ? 2 : 0);
                break;
            case MqttControlPacketType.PubAck or MqttControlPacketType.PubRec or MqttControlPacketType.PubRel or MqttControlPacketType.PubComp:
                body = body.Length == 2 ? [.. body, 0x00] : body; // add the reason code MQTTnet leaves out for Success
                offset = 3;
                break;
            case MqttControlPacketType.Subscribe or MqttControlPacketType.Unsubscribe:
                offset = 2;
                break;
            case MqttControlPacketType.Disconnect or MqttControlPacketType.Auth:
                body = body.Length == 0 ? [0x00] : body;
                offset = 1;
                break;
            default:
                return null;
        }

        if (offset == body.Length)
        {
            body = [.. body, 0x00];
        }

        var (count, size) = ReadVariableByteInteger(body, offset);
        var properties = edit(body.AsSpan(offset + size, count).ToArray());
        var declared = declaredLength?.Invoke(properties.Length) ?? properties.Length;
        return Frame(packet[0], [.. body.AsSpan(0, offset), .. VariableByteInteger(declared), .. properties, .. body.AsSpan(offset + size + count)]);
    }

    private static byte[][] SingleValuedProperties(MqttControlPacketType type) => type switch
    {
        MqttControlPacketType.Connect => [[0x11, 0, 0, 0, 0], [0x21, 0x00, 0x0A], [0x27, 0x00, 0x01, 0x00, 0x00], [0x22, 0x00, 0x05], [0x19, 0x01], [0x17, 0x00]],
        MqttControlPacketType.Publish => [[0x01, 0x00], [0x02, 0, 0, 0, 30], [0x23, 0x00, 0x02], [0x03, 0x00, 0x01, 0x61], [0x08, 0x00, 0x01, 0x61], [0x09, 0x00, 0x01, 0x01]],
        MqttControlPacketType.Subscribe => [[0x0B, 0x05]],
        MqttControlPacketType.Disconnect => [[0x11, 0, 0, 0, 0], [0x1F, 0x00, 0x01, 0x61]],
        MqttControlPacketType.Auth => [[0x15, 0x00, 0x01, 0x61], [0x16, 0x00, 0x01, 0x01], [0x1F, 0x00, 0x01, 0x61]],
        _ => [[0x1F, 0x00, 0x01, 0x61]],
    };

    private static byte[][] InvalidProperties(MqttControlPacketType type)
    {
        // Valid identifiers with values the spec forbids, or in a packet they do not belong to.
        byte[][] specific = type switch
        {
            MqttControlPacketType.Connect =>
            [
                [0x21, 0x00, 0x00], // Receive Maximum 0
                [0x27, 0x00, 0x00, 0x00, 0x00], // Maximum Packet Size 0
                [0x19, 0x02], // Request Response Information 2
                [0x17, 0x05], // Request Problem Information 5
                [0x24, 0x01], // Maximum QoS: CONNACK only
                [0x12, 0x00, 0x01, 0x61], // Assigned Client Identifier: CONNACK only
                [0x15, 0x00, 0x04, 0x53, 0x43, 0x52, 0x41], // Authentication Method: enhanced authentication
            ],
            MqttControlPacketType.Publish =>
            [
                [0x23, 0x00, 0x00], // Topic Alias 0
                [0x23, 0xFF, 0xFF], // Topic Alias above the broker's maximum
                [0x0B, 0x01], // Subscription Identifier from a client
                [0x01, 0x07], // Payload Format Indicator 7
                [0x11, 0x00, 0x00, 0x00, 0x01], // Session Expiry Interval: not a PUBLISH property
            ],
            MqttControlPacketType.Subscribe =>
            [
                [0x0B, 0x00], // Subscription Identifier 0
                [0x0B, 0x80, 0x80, 0x80, 0x80, 0x01], // Subscription Identifier as a 5-byte integer
                [0x01, 0x00], // Payload Format Indicator: not a SUBSCRIBE property
            ],
            MqttControlPacketType.Disconnect =>
            [
                [0x11, 0x00, 0x00, 0x0E, 0x10], // Session Expiry 3600 after CONNECT asked for 0
                [0x1C, 0x00, 0x01, 0x61], // Server Reference from a client
            ],
            _ => [[0x02, 0x00, 0x00, 0x00, 0x01]], // Message Expiry Interval in an acknowledgement
        };
        return
        [
            .. specific,
            [0x1F, 0x00, 0x40, 0x61], // a string longer than the property block
            [0x26, 0x00, 0x01, 0x61], // a user property without its value
        ];
    }

    private byte BogusPropertyId()
    {
        // Identifiers MQTT 5 does not define (0x2B and above, and the gaps below), or the first byte of a multi-byte one.
        byte[] gaps = [0x00, 0x04, 0x05, 0x06, 0x07, 0x0A, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x14, 0x1B, 0x1D, 0x1E, 0x20];
        return _random.Next(3) switch
        {
            0 => gaps[_random.Next(gaps.Length)],
            1 => (byte)_random.Next(0x2B, 0x80),
            _ => (byte)_random.Next(0x80, 0x100),
        };
    }

    private T Pick<T>(T[] items) => items[_random.Next(items.Length)];

    /// <summary>Where the first topic filter of a SUBSCRIBE or UNSUBSCRIBE starts (after packet id and, in MQTT 5, properties).</summary>
    private static int FirstTopicFilterOffset(byte[] packet, int headerLength, MqttProtocolVersion version)
    {
        var offset = headerLength + 2;
        if (version == MqttProtocolVersion.V500)
        {
            var (count, size) = ReadVariableByteInteger(packet, offset);
            offset += size + count;
        }

        return offset;
    }

    /// <summary>The length of the fixed header (type byte and Remaining Length) of a well-formed packet.</summary>
    private static int ReadFixedHeader(byte[] packet) => 1 + ReadVariableByteInteger(packet, 1).Size;

    private static (int Value, int Size) ReadVariableByteInteger(byte[] data, int offset)
    {
        var value = 0;
        var multiplier = 1;
        var size = 0;
        byte encoded;
        do
        {
            encoded = data[offset + size++];
            value += (encoded & 0x7F) * multiplier;
            multiplier *= 128;
        }
        while ((encoded & 0x80) != 0);
        return (value, size);
    }

    private static int ReadUInt16(byte[] data, int offset) => (data[offset] << 8) | data[offset + 1];

    private static byte[] VariableByteInteger(int value)
    {
        var bytes = new List<byte>(4);
        do
        {
            var encoded = (byte)(value % 128);
            value /= 128;
            bytes.Add(value > 0 ? (byte)(encoded | 0x80) : encoded);
        }
        while (value > 0);
        return [.. bytes];
    }

    private static byte[] Frame(byte fixedHeader, ReadOnlySpan<byte> body) => [fixedHeader, .. VariableByteInteger(body.Length), .. body];
}
