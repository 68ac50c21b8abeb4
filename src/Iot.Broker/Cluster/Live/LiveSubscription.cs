using System.Buffers;
using NATS.Client.Core;

namespace Iot.Broker.Cluster.Live;

/// <summary>
/// One NATS subscription of the live path: a subject of this node's non-shared filters, or (<paramref name="forMembers"/>)
/// this node's subject for the shared groups' messages sent to its members. Messages are handed to
/// <see cref="LiveReceiver"/> on the connection's reader, in the order they arrive, without a channel in between.
/// </summary>
internal sealed class LiveSubscription(LiveReceiver receiver, INatsConnection connection, string subject, bool forMembers = false)
    : NatsSubBase(connection, connection.SubscriptionManager, subject, queueGroup: null, opts: null)
{
    /// <summary>Carries shared groups' messages for members on this node, not a topic's.</summary>
    public bool ForMembers { get; } = forMembers;

    protected override ValueTask ReceiveInternalAsync(string subject, string? replyTo, ReadOnlySequence<byte>? headersBuffer, ReadOnlySequence<byte> payloadBuffer)
    {
        receiver.OnMessage(this, subject, payloadBuffer);
        return ValueTask.CompletedTask;
    }

    protected override void TryComplete()
    {
    }
}
