using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Iot.Broker.Mqtt;
using MQTTnet.Packets;

namespace Iot.Broker.Cluster.Live;

/// <summary>
/// The body of a live message on core NATS (the topic is the subject, <see cref="TopicSubjects"/>): what a receiving node
/// needs to deliver it as the origin would have. Layout (version 1, little-endian):
/// <code>
/// u8 version | u8 flags | u8 qos | u8 payload format indicator | u8 origin length | origin (ASCII node id)
/// u64 message id | i64 remaining expiry ms (0: none) | i64 received at (Unix ms)
/// [str publisher client id] [str source client id] [str content type] [str response topic] [bin correlation data]
/// [u32 count, count x (str name, bin value)] | payload (the rest)
/// </code>
/// <c>str</c>/<c>bin</c> are a u16 length and that many bytes (MQTT strings are at most 65 535 bytes); bracketed fields are
/// present only when their flag is set. The expiry travels as what remains, so that nodes' clocks need not agree.
/// A shared group's message for one member goes to the member's node (<c>{prefix}.g.{node id}</c>), with
/// <c>str client id | str share name | str filter | str topic</c> in front of the envelope.
/// </summary>
internal static class LiveEnvelope
{
    public const byte Version = 1;

    private const byte Retain = 1 << 0;
    private const byte HasPublisher = 1 << 1;
    private const byte SourceIsPublisher = 1 << 2;
    private const byte HasSource = 1 << 3;
    private const byte HasContentType = 1 << 4;
    private const byte HasResponseTopic = 1 << 5;
    private const byte HasCorrelation = 1 << 6;
    private const byte HasUserProperties = 1 << 7;

    /// <summary>Writes the envelope of <paramref name="outbound"/> into <paramref name="writer"/> (NATS's own buffer: no copy of ours).</summary>
    public static void Write(IBufferWriter<byte> writer, in Outbound outbound)
    {
        var message = outbound.Message;
        if (outbound.Member is { } member)
        {
            // Sent to one member's node (its subject is not the topic's): who, which group, and the topic come first.
            WriteString(writer, member.ClientId);
            WriteString(writer, member.Share);
            WriteString(writer, member.Filter);
            WriteString(writer, message.Topic);
        }

        var flags = (byte)(message.Retain ? Retain : 0);
        if (outbound.PublisherClientId is not null)
        {
            flags |= HasPublisher;
        }

        if (message.SourceClientId is not null)
        {
            flags |= string.Equals(message.SourceClientId, outbound.PublisherClientId, StringComparison.Ordinal) ? SourceIsPublisher : HasSource;
        }

        flags |= (byte)((message.ContentType is null ? 0 : HasContentType) | (message.ResponseTopic is null ? 0 : HasResponseTopic)
            | (message.CorrelationData is null ? 0 : HasCorrelation) | (message.UserProperties is null ? 0 : HasUserProperties));

        var origin = outbound.Origin;
        var head = writer.GetSpan(5 + origin.Length + 24);
        head[0] = Version;
        head[1] = flags;
        head[2] = message.QualityOfService;
        head[3] = message.PayloadFormatIndicator;
        head[4] = (byte)origin.Length;
        origin.Span.CopyTo(head[5..]);
        var at = 5 + origin.Length;
        BinaryPrimitives.WriteUInt64LittleEndian(head[at..], outbound.MessageId);
        var remaining = message.ExpiresAtUnixMs == 0 ? 0 : Math.Max(1, message.ExpiresAtUnixMs - outbound.NowUnixMs);
        BinaryPrimitives.WriteInt64LittleEndian(head[(at + 8)..], remaining);
        BinaryPrimitives.WriteInt64LittleEndian(head[(at + 16)..], message.ReceivedAtUnixMs);
        writer.Advance(at + 24);

        WriteString(writer, outbound.PublisherClientId);
        if ((flags & HasSource) != 0)
        {
            WriteString(writer, message.SourceClientId);
        }

        WriteString(writer, message.ContentType);
        WriteString(writer, message.ResponseTopic);
        if (message.CorrelationData is { } correlation)
        {
            WriteBytes(writer, correlation);
        }

        if (message.UserProperties is { } properties)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(writer.GetSpan(4), (uint)properties.Count);
            writer.Advance(4);
            foreach (var property in properties)
            {
                WriteString(writer, property.Name);
                WriteBytes(writer, property.ValueBuffer.Span);
            }
        }

        writer.Write(message.Payload.Span);
    }

    /// <summary>
    /// Reads an envelope into a message on <paramref name="topic"/> whose expiry counts from <paramref name="nowUnixMs"/>;
    /// false when it is not a version-1 envelope (a newer node's: it is dropped and counted).
    /// </summary>
    public static bool TryRead(ReadOnlySequence<byte> body, string topic, long nowUnixMs, out Inbound inbound) =>
        // One array holds the header and the payload, which the message then shares: one allocation for both.
        TryRead(body.ToArray(), 0, topic, nowUnixMs, out inbound);

    /// <summary>
    /// Reads the body of a shared group's message sent to one member (<see cref="Outbound.Member"/>): the member's client
    /// id, the group, the topic, then the envelope. False when it is not readable.
    /// </summary>
    public static bool TryReadForMember(ReadOnlySequence<byte> body, long nowUnixMs, out Inbound inbound, out MemberTarget target)
    {
        inbound = default;
        target = default!;
        var data = body.ToArray();
        var at = 0;
        try
        {
            var clientId = ReadString(data, ref at);
            var share = ReadString(data, ref at);
            var filter = ReadString(data, ref at);
            var topic = ReadString(data, ref at);
            target = new MemberTarget(string.Empty, clientId, share, filter);
            return TryRead(data, at, topic, nowUnixMs, out inbound);
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or IndexOutOfRangeException or DecoderFallbackException)
        {
            return false;
        }
    }

    private static bool TryRead(byte[] data, int start, string topic, long nowUnixMs, out Inbound inbound)
    {
        inbound = default;
        var length = data.Length - start;
        if (length < 5 || data[start] != Version || length < 5 + data[start + 4] + 24)
        {
            return false;
        }

        var flags = data[start + 1];
        var originLength = data[start + 4];
        var at = start + 5 + originLength;
        var messageId = BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(at));
        var remaining = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(at + 8));
        var receivedAt = BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(at + 16));
        at += 24;
        try
        {
            var publisher = (flags & HasPublisher) != 0 ? ReadString(data, ref at) : null;
            var source = (flags & SourceIsPublisher) != 0 ? publisher : (flags & HasSource) != 0 ? ReadString(data, ref at) : null;
            var contentType = (flags & HasContentType) != 0 ? ReadString(data, ref at) : null;
            var responseTopic = (flags & HasResponseTopic) != 0 ? ReadString(data, ref at) : null;
            var correlation = (flags & HasCorrelation) != 0 ? ReadBytes(data, ref at).ToArray() : null;
            List<MqttUserProperty>? properties = null;
            if ((flags & HasUserProperties) != 0)
            {
                var count = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(at));
                at += 4;
                properties = new List<MqttUserProperty>((int)Math.Min(count, 64));
                for (var i = 0u; i < count; i++)
                {
                    var name = ReadString(data, ref at);
                    properties.Add(new MqttUserProperty(name, ReadBytes(data, ref at).ToArray()));
                }
            }

            var message = new BrokerMessage
            {
                Topic = topic,
                Payload = data.AsMemory(at),
                QualityOfService = data[start + 2],
                Retain = (flags & Retain) != 0,
                PayloadFormatIndicator = data[start + 3],
                ExpiresAtUnixMs = remaining == 0 ? 0 : nowUnixMs + remaining,
                ContentType = contentType,
                ResponseTopic = responseTopic,
                CorrelationData = correlation,
                UserProperties = properties,
                SourceClientId = source,
                ReceivedAtUnixMs = receivedAt,
            };
            inbound = new Inbound(data.AsMemory(start + 5, originLength), messageId, message, publisher);
            return data[start + 2] <= 2;
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or IndexOutOfRangeException or DecoderFallbackException)
        {
            return false;
        }
    }

    private static void WriteString(IBufferWriter<byte> writer, string? value)
    {
        if (value is null)
        {
            return;
        }

        var length = Encoding.UTF8.GetByteCount(value);
        var span = writer.GetSpan(2 + length);
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)length);
        Encoding.UTF8.GetBytes(value, span[2..]);
        writer.Advance(2 + length);
    }

    private static void WriteBytes(IBufferWriter<byte> writer, ReadOnlySpan<byte> value)
    {
        var span = writer.GetSpan(2 + value.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)value.Length);
        value.CopyTo(span[2..]);
        writer.Advance(2 + value.Length);
    }

    private static string ReadString(byte[] data, ref int at) => Encoding.UTF8.GetString(ReadBytes(data, ref at));

    private static ReadOnlySpan<byte> ReadBytes(byte[] data, ref int at)
    {
        var length = BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan(at));
        var value = data.AsSpan(at + 2, length);
        at += 2 + length;
        return value;
    }

    /// <summary>
    /// What the origin publishes: the message, who published it, this node's id (ASCII) and the message's id; for a shared
    /// group's message, the member it is for.
    /// </summary>
    public readonly record struct Outbound(
        BrokerMessage Message, string? PublisherClientId, ReadOnlyMemory<byte> Origin, ulong MessageId, long NowUnixMs, MemberTarget? Member = null);

    /// <summary>The member of a shared group a message is sent to: the subject of its node, its client id, the group.</summary>
    public sealed record MemberTarget(string Subject, string ClientId, string Share, string Filter);

    /// <summary>A received envelope: the origin's id bytes, the origin's message id, the message, who published it.</summary>
    public readonly record struct Inbound(ReadOnlyMemory<byte> Origin, ulong MessageId, BrokerMessage Message, string? PublisherClientId);
}
