using Iot.Broker.Mqtt;
using Iot.Broker.Tests.Mqtt;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Broker.Tests.Cluster.Sessions;

/// <summary>
/// A cluster-mode persistent session (<see cref="MqttSession.QueueInStream"/>) takes QoS 1/2 messages only from its
/// JetStream queue, so the live copy of the same message is not delivered twice; QoS 0 still goes live.
/// </summary>
public sealed class QueueInStreamTests
{
    private readonly BrokerContext _context = new(
        Options.Create(new MqttOptions()), new NoStore(), new BrokerMetrics(), new FakeTimeProvider(new DateTimeOffset(2026, 12, 6, 10, 0, 0, TimeSpan.Zero)));

    [Fact]
    public void Enqueue_Qos1LiveCopy_IsIgnored_QueuedCopyIsSentWithItsStreamSequence_Qos0GoesLive()
    {
        var session = new MqttSession(_context, "c1") { SessionExpiryInterval = 60, Cluster = new ClusterBinding(1, QueueInStream: true, ReadsStreamBacklog: false) };
        var target = new RecordingTarget();
        session.Claim(target);
        Assert.True(session.Attach(target, 8));

        var durable = default(DurableWrites);
        session.Enqueue(new BrokerMessage { Topic = "live/1", Payload = Array.Empty<byte>(), QualityOfService = 1 }, 1, retain: false, subscriptionIds: null, ref durable);
        session.Enqueue(new BrokerMessage { Topic = "live/0", Payload = Array.Empty<byte>(), QualityOfService = 0 }, 0, retain: false, subscriptionIds: null, ref durable);
        session.EnqueueQueued(new BrokerMessage { Topic = "stream/1", Payload = Array.Empty<byte>(), QualityOfService = 1 }, 42, [7]);

        Assert.Equal(["live/0", "stream/1"], target.Topics);
        Assert.True(durable.ToTask().IsCompletedSuccessfully);
        Assert.Equal(1, session.QueuedCount);
    }

    [Fact]
    public void InboundQos2_RestoredIds_AreResendsNotNewMessages()
    {
        var session = new MqttSession(_context, "c2") { SessionExpiryInterval = 60, Cluster = new ClusterBinding(1, QueueInStream: true, ReadsStreamBacklog: false) };
        session.RestoreInboundQos2([5, 9]);

        Assert.False(session.TryBeginInboundQos2(5));
        Assert.True(session.TryBeginInboundQos2(6));
        Assert.Equal(new ushort[] { 5, 6, 9 }, session.SnapshotInboundQos2().Order().ToArray());
    }
}
