using System.Buffers;
using Iot.Broker.Mqtt;
using NATS.Client.Core;

namespace Iot.Broker.Cluster.Live;

/// <summary>
/// One NATS subscription of the live path: a subject of this node's non-shared filters, or (with a queue group) one of a
/// shared group's subjects. Messages are handed to <see cref="LiveReceiver"/> on the connection's reader, in the order they
/// arrive, without a channel in between.
/// </summary>
internal sealed class LiveSubscription(LiveReceiver receiver, INatsConnection connection, string subject, string? queueGroup)
    : NatsSubBase(connection, connection.SubscriptionManager, subject, queueGroup, opts: null)
{
    private SharedGroup? _group;

    /// <summary>The shared group whose members this queue subscription serves on this node; null for a non-shared subject.</summary>
    public SharedGroup? Group
    {
        get => Volatile.Read(ref _group);
        set => Volatile.Write(ref _group, value);
    }

    protected override ValueTask ReceiveInternalAsync(string subject, string? replyTo, ReadOnlySequence<byte>? headersBuffer, ReadOnlySequence<byte> payloadBuffer)
    {
        receiver.OnMessage(this, subject, payloadBuffer);
        return ValueTask.CompletedTask;
    }

    protected override void TryComplete()
    {
    }
}
