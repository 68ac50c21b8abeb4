using Iot.Broker.Mqtt;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Iot.Broker.Tests.Mqtt;

/// <summary>
/// The session's QoS 1/2 flows, in-flight window and queue, on a <see cref="FakeTimeProvider"/> and a
/// <see cref="RecordingTarget"/>: no connection, no network, no real time.
/// </summary>
public sealed class MqttSessionFlowTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 6, 10, 0, 0, TimeSpan.Zero));
    private readonly BrokerContext _context;

    public MqttSessionFlowTests()
    {
        _context = new BrokerContext(Options.Create(new MqttOptions()), new NoStore(), new BrokerMetrics(), _time);
    }

    [Fact]
    public void Qos1_WindowFull_QueuesTheRest_EachPubAckSendsTheNext()
    {
        var (session, target) = Attached(window: 2);

        Deliver(session, "a", qos: 1);
        Deliver(session, "b", qos: 1);
        Deliver(session, "c", qos: 1);

        Assert.Equal(["a", "b"], target.Topics);
        Assert.Equal(3, session.QueuedCount);
        Assert.False(session.CanAcceptNow);

        session.OnPubAck(target.Packets[0].PacketId);
        Assert.Equal(["a", "b", "c"], target.Topics);
        Assert.Equal(2, session.QueuedCount);

        session.OnPubAck(target.Packets[1].PacketId);
        session.OnPubAck(target.Packets[2].PacketId);
        Assert.Equal(0, session.QueuedCount);
        Assert.True(session.CanAcceptNow);
    }

    [Fact]
    public void Qos1_PacketIds_AreDistinctWhileInFlight_AndAnUnknownPubAckChangesNothing()
    {
        var (session, target) = Attached(window: 3);
        Deliver(session, "a", qos: 1);
        Deliver(session, "b", qos: 1);
        Deliver(session, "c", qos: 1);

        Assert.Equal(3, target.Packets.Select(p => p.PacketId).Distinct().Count());
        Assert.DoesNotContain((ushort)0, target.Packets.Select(p => p.PacketId));

        session.OnPubAck(999);
        Assert.Equal(3, session.QueuedCount);
    }

    [Fact]
    public void Qos0_BehindAFullWindow_WaitsItsTurn_SoOrderIsKept()
    {
        var (session, target) = Attached(window: 1);
        Deliver(session, "first", qos: 1);
        Deliver(session, "second", qos: 1);
        Deliver(session, "third", qos: 0);

        Assert.Equal(["first"], target.Topics);

        session.OnPubAck(target.Packets[0].PacketId);
        Assert.Equal(["first", "second", "third"], target.Topics);
    }

    [Fact]
    public void Qos2_PubRecAnswersPubRel_PubCompEndsTheFlowAndRefillsTheWindow()
    {
        var (session, target) = Attached(window: 1);
        Deliver(session, "one", qos: 2);
        Deliver(session, "two", qos: 2);
        var first = target.Packets[0].PacketId;

        // A PUBACK is no answer to a QoS 2 PUBLISH.
        session.OnPubAck(first);
        Assert.Equal(["one"], target.Topics);

        Assert.True(session.OnPubRec(first, failed: false));
        Assert.Equal(new RecordingTarget.Sent(RecordingTarget.SentKind.PubRel, null, 1, first, false), target.Packets[^1]);
        Assert.Equal(["one"], target.Topics);

        session.OnPubComp(first);
        Assert.Equal(["one", "two"], target.Topics);
        Assert.False(session.OnPubRec(first, failed: false));
    }

    [Fact]
    public void Qos2_PubRecWithAFailureReason_EndsTheFlowWithoutPubRel()
    {
        var (session, target) = Attached(window: 1);
        Deliver(session, "refused", qos: 2);
        Deliver(session, "next", qos: 2);

        Assert.True(session.OnPubRec(target.Packets[0].PacketId, failed: true));

        Assert.DoesNotContain(target.Packets, p => p.Kind == RecordingTarget.SentKind.PubRel);
        Assert.Equal(["refused", "next"], target.Topics);
    }

    [Fact]
    public void Attach_AfterReconnect_ResendsInFlightInOrderWithDup_AndPubRelForReleased()
    {
        var (session, first) = Attached(window: 3, expiry: 60);
        Deliver(session, "a", qos: 1);
        Deliver(session, "b", qos: 2);
        Deliver(session, "c", qos: 1);
        var released = first.Packets[1].PacketId;
        session.OnPubRec(released, failed: false);
        Assert.True(session.Detach(first, _context.NowUnixMs));

        var second = new RecordingTarget();
        session.Claim(second);
        Assert.True(session.Attach(second, window: 3));

        Assert.Equal(
            [
                new RecordingTarget.Sent(RecordingTarget.SentKind.Publish, "a", 1, first.Packets[0].PacketId, Dup: true),
                new RecordingTarget.Sent(RecordingTarget.SentKind.PubRel, null, 1, released, Dup: false),
                new RecordingTarget.Sent(RecordingTarget.SentKind.Publish, "c", 1, first.Packets[2].PacketId, Dup: true),
            ],
            second.Packets);
    }

    [Fact]
    public void MessageExpiry_InTheQueue_DroppedWhenItsTurnComes_NotBefore_AndCounted()
    {
        var (session, target) = Attached(window: 1);
        Deliver(session, "head", qos: 1);
        Deliver(session, "short-lived", qos: 1, expiresIn: TimeSpan.FromSeconds(5));
        Deliver(session, "long-lived", qos: 1, expiresIn: TimeSpan.FromSeconds(60));

        _time.Advance(TimeSpan.FromSeconds(4));
        session.OnPubAck(target.Packets[0].PacketId);
        Assert.Equal(["head", "short-lived"], target.Topics);

        Deliver(session, "later-short", qos: 1, expiresIn: TimeSpan.FromSeconds(5));
        _time.Advance(TimeSpan.FromSeconds(6));
        session.OnPubAck(target.Packets[1].PacketId);
        session.OnPubAck(target.Packets[2].PacketId);

        Assert.Equal(["head", "short-lived", "long-lived"], target.Topics);
        Assert.Equal(1, _context.Metrics.Dropped(DropReason.Expired));
        Assert.Equal(0, session.QueuedCount);
    }

    [Fact]
    public void MessageExpiry_WhileOffline_TheExpiredMessageIsNotSentOnReconnect()
    {
        var session = new MqttSession(_context, "offline") { SessionExpiryInterval = 300 };
        Deliver(session, "expires", qos: 1, expiresIn: TimeSpan.FromSeconds(1));
        Deliver(session, "stays", qos: 1, expiresIn: TimeSpan.FromSeconds(60));
        _time.Advance(TimeSpan.FromSeconds(2));

        var target = new RecordingTarget();
        session.Claim(target);
        session.Attach(target, window: 10);

        Assert.Equal(["stays"], target.Topics);
        Assert.Equal(1, _context.Metrics.Dropped(DropReason.Expired));
    }

    [Fact]
    public async Task EnqueueCommand_Expired_CompletesFalse_Acknowledged_CompletesTrue()
    {
        var (session, target) = Attached(window: 1);
        Deliver(session, "blocker", qos: 1);
        var expiring = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var acknowledged = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.True(session.EnqueueCommand(Message("cmd/1", TimeSpan.FromSeconds(2)), expiring));
        Assert.True(session.EnqueueCommand(Message("cmd/2", null), acknowledged));

        _time.Advance(TimeSpan.FromSeconds(3));
        session.OnPubAck(target.Packets[0].PacketId);
        Assert.False(await expiring.Task.WaitAsync(TimeSpan.FromSeconds(30)));

        session.OnPubAck(target.Packets[^1].PacketId);
        Assert.True(await acknowledged.Task.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public void EnqueueCommand_AcknowledgementWithSynchronousContinuations_IsRefused()
    {
        // Its continuations would run under the session's lock.
        var (session, _) = Attached(window: 1);
        Assert.Throws<ArgumentException>(() => session.EnqueueCommand(Message("cmd/1", null), new TaskCompletionSource<bool>()));
    }

    [Fact]
    public async Task Detach_FailsCommandsAndDropsQos0_KeepsQos1ForAPersistentSession()
    {
        var (session, target) = Attached(window: 1, expiry: 60);
        Deliver(session, "in-flight", qos: 1);
        Deliver(session, "queued-qos1", qos: 1);
        Deliver(session, "queued-qos0", qos: 0);
        var command = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        session.EnqueueCommand(Message("cmd/1", null), command);

        Assert.True(session.Detach(target, _context.NowUnixMs));

        Assert.False(await command.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(2, session.QueuedCount);
    }

    [Fact]
    public void TrimIdle_DropsTheEmptyWindowAndQueue_TheNextMessageStillFlows()
    {
        var (session, target) = Attached(window: 1);
        Deliver(session, "a", qos: 1);
        Deliver(session, "b", qos: 1);
        session.OnPubAck(target.Packets[0].PacketId);
        session.OnPubAck(target.Packets[1].PacketId);

        session.TrimIdle();
        Deliver(session, "c", qos: 1);

        Assert.Equal(["a", "b", "c"], target.Topics);
        Assert.Equal(1, session.QueuedCount);
    }

    private (MqttSession Session, RecordingTarget Target) Attached(int window, uint expiry = 0)
    {
        var session = new MqttSession(_context, "client-" + Guid.NewGuid().ToString("N")) { SessionExpiryInterval = expiry };
        var target = new RecordingTarget();
        session.Claim(target);
        Assert.True(session.Attach(target, window));
        return (session, target);
    }

    private void Deliver(MqttSession session, string topic, byte qos, TimeSpan? expiresIn = null)
    {
        var durable = default(DurableWrites);
        session.Enqueue(Message(topic, expiresIn, qos), qos, retain: false, subscriptionIds: null, ref durable);
    }

    private BrokerMessage Message(string topic, TimeSpan? expiresIn, byte qos = 1) => new()
    {
        Topic = topic,
        Payload = new byte[] { 1 },
        QualityOfService = qos,
        ExpiresAtUnixMs = expiresIn is { } ttl ? _context.NowUnixMs + (long)ttl.TotalMilliseconds : 0,
        ReceivedAtUnixMs = _context.NowUnixMs,
    };
}
