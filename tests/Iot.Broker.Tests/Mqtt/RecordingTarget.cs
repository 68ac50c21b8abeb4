using Iot.Broker.Mqtt;

namespace Iot.Broker.Tests.Mqtt;

/// <summary>
/// An <see cref="IDeliveryTarget"/> that records what a session hands it, in order, as a connection's send queue
/// would (it marks a PUBLISH sent, as the connection's writer does, so that a resend carries DUP).
/// </summary>
internal sealed class RecordingTarget : IDeliveryTarget
{
    private readonly Lock _gate = new();
    private readonly List<Sent> _sent = [];

    public int QueuedQos0 => 0;

    /// <summary>What was queued so far.</summary>
    public IReadOnlyList<Sent> Packets
    {
        get
        {
            lock (_gate)
            {
                return [.. _sent];
            }
        }
    }

    /// <summary>The topics of the PUBLISH packets queued so far.</summary>
    public IReadOnlyList<string> Topics => [.. Packets.Where(p => p.Kind == SentKind.Publish).Select(p => p.Topic!)];

    public void SendPublish(Delivery delivery)
    {
        lock (_gate)
        {
            _sent.Add(new Sent(SentKind.Publish, delivery.Message.Topic, delivery.QualityOfService, delivery.PacketId, delivery.Sent));
        }

        delivery.Sent = true;
    }

    public void SendPublishQos0(BrokerMessage message, bool retain)
    {
        lock (_gate)
        {
            _sent.Add(new Sent(SentKind.Publish, message.Topic, 0, 0, Dup: false));
        }
    }

    public void SendPubRel(ushort packetId)
    {
        lock (_gate)
        {
            _sent.Add(new Sent(SentKind.PubRel, null, 1, packetId, Dup: false));
        }
    }

    internal enum SentKind
    {
        Publish,
        PubRel,
    }

    internal readonly record struct Sent(SentKind Kind, string? Topic, byte Qos, ushort PacketId, bool Dup);
}
