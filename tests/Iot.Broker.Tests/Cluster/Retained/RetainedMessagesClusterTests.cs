using System.Text;
using Iot.Broker.Mqtt;
using Iot.Broker.Security;
using Iot.Broker.Tests.Mqtt;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Tests.Cluster.Retained;

/// <summary>Issue 18, done-when 5: the retained index in cluster mode is written through the log and fed only from it.</summary>
public sealed class RetainedMessagesClusterTests
{
    private readonly MqttOptions _options = new() { MaxRetainedMessagesPerIdentity = 2, MaxRetainedBytesPerIdentity = 1000, MaxRetainedMessages = 100 };
    private readonly BrokerMetrics _metrics = new();
    private readonly ManualTime _time = new();
    private readonly RecordingLog _log = new();
    private readonly RetainedMessages _retained;

    public RetainedMessagesClusterTests() =>
        _retained = new RetainedMessages(new BrokerContext(Options.Create(_options), new NoStore(), _metrics, _time), _log);

    [Fact]
    public void Apply_WritesToTheLog_TheIndexChangesOnlyWhenTheFeedBringsItBack()
    {
        var device = Owner("d1");
        var durable = Apply("a/b", "v1", device, out var accepted);
        Assert.True(accepted);
        Assert.False(durable.IsCompleted);
        var (written, owner) = Assert.Single(_log.Writes);
        Assert.Equal(("a/b", "d1"), (written.Topic, owner));
        Assert.Equal(0, _retained.Count);

        _log.Complete(0);
        Assert.True(durable.IsCompletedSuccessfully);
        _retained.ApplyFromLog(Copy(written), owner);
        Assert.True(_retained.TryGetCurrent("a/b", _time.GetUtcNow().ToUnixTimeMilliseconds(), out var current));
        Assert.Equal("v1", Encoding.UTF8.GetString(current.Payload.Span));
        Assert.Equal(1, _retained.Quota.OwnerFor("d1").Count);
    }

    [Fact]
    public void Apply_AWriteTheLogRefused_FailsThePublisher_AndIsServedNowhere()
    {
        var durable = Apply("t", "v", Owner("d1"), out _);
        _log.Fail(0);
        Assert.True(durable.IsFaulted);
        Assert.Equal(0, _retained.Count);
    }

    [Fact]
    public void Apply_ClearWithNothingIndexed_IsStillWritten()
    {
        // The index may not have applied a set acknowledged a moment ago: the clear must land after it in the log.
        Apply("t", "", Owner("d1"), out var accepted);
        Assert.True(accepted);
        Assert.True(Assert.Single(_log.Writes).Message.Payload.IsEmpty);
    }

    [Fact]
    public void Apply_ABurstOfNewTopics_CountsTheWritesInFlightAgainstTheQuota()
    {
        var device = Owner("d1");
        Apply("t1", "v", device, out var first);
        Apply("t2", "v", device, out var second);
        Apply("t3", "v", device, out var third);
        Assert.Equal((true, true, false), (first, second, third));
        Assert.Equal(1, _metrics.LimitHits(LimitKind.RetainedPerIdentity));

        // Acknowledged and applied: the charge moves from the reservation to the index; still two of two.
        _log.Complete(0);
        _log.Complete(1);
        _retained.ApplyFromLog(Copy(_log.Writes[0].Message), "d1");
        _retained.ApplyFromLog(Copy(_log.Writes[1].Message), "d1");
        Apply("t3", "v", device, out third);
        Assert.False(third);

        // Replacing its own topic is always allowed.
        Apply("t1", "v2", device, out var replaced);
        Assert.True(replaced);
    }

    [Fact]
    public void Apply_AWriteThatFailed_GivesItsReservationBack()
    {
        var device = Owner("d1");
        Apply("t1", "v", device, out _);
        Apply("t2", "v", device, out _);
        _log.Fail(1);
        Apply("t3", "v", device, out var third);
        Assert.True(third);
    }

    [Fact]
    public void ApplyFromLog_FromAnotherNode_ChargesTheOwnerEverywhere_ClearAndReplaceGiveItBack()
    {
        // Written on another node: this node never saw the identity connect, yet charges it the same.
        _retained.ApplyFromLog(Message("x/1", "12345"), "remote");
        _retained.ApplyFromLog(Message("x/2", "1"), "remote");
        var remote = _retained.Quota.OwnerFor("remote");
        Assert.Equal((2, 8L + 4L), (remote.Count, remote.Bytes));

        _retained.ApplyFromLog(Message("x/1", "9"), "other");
        Assert.Equal((1, 4L), (remote.Count, remote.Bytes));
        _retained.ApplyFromLog(Message("x/2", ""), "remote");
        Assert.Equal((0, 0L), (remote.Count, remote.Bytes));
        Assert.Equal(1, _retained.Count);

        // The broker's own messages are charged to nobody.
        _retained.ApplyFromLog(Message("aggregates/a", "1"), null);
        Assert.Equal(1, _retained.OwnedCount);
    }

    [Fact]
    public void ApplyFromLog_AMessageThatExpiredMeanwhile_ClearsTheTopic()
    {
        _retained.ApplyFromLog(Message("t", "old"), "d1");
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        _retained.ApplyFromLog(new BrokerMessage { Topic = "t", Payload = "new"u8.ToArray(), Retain = true, ExpiresAtUnixMs = now }, "d1");
        Assert.Equal(0, _retained.Count);
        Assert.Equal(0, _retained.OwnedCount);
    }

    [Fact]
    public void Restore_FromTheLocalStore_IsIgnored_TheLogIsTheOnlySource()
    {
        _retained.Restore(Message("t", "from sqlite"), "d1");
        Assert.Equal(0, _retained.Count);
    }

    [Fact]
    public async Task WhenCurrentAsync_WaitsForTheLog_OnASingleNodeCompletesAtOnce()
    {
        var single = new RetainedMessages(new BrokerContext(Options.Create(_options), new NoStore(), _metrics, _time));
        Assert.True(single.WhenCurrentAsync().IsCompletedSuccessfully);

        var wait = _retained.WhenCurrentAsync();
        Assert.False(wait.IsCompleted);
        _log.Current.SetResult();
        await wait;
    }

    private static BrokerMessage Message(string topic, string payload) =>
        new() { Topic = topic, Payload = Encoding.UTF8.GetBytes(payload), Retain = true };

    // What the feed hands over: a decoded copy, not the publisher's object.
    private static BrokerMessage Copy(BrokerMessage message) =>
        new() { Topic = message.Topic, Payload = message.Payload.ToArray(), Retain = true, QualityOfService = message.QualityOfService };

    private int Owner(string identity) => _retained.Quota.OwnerIdFor(new IotPrincipal("client", identity, IdentityRole.Device));

    private Task Apply(string topic, string payload, int owner, out bool accepted)
    {
        var durable = default(DurableWrites);
        accepted = _retained.Apply(
            new BrokerMessage { Topic = topic, Payload = Encoding.UTF8.GetBytes(payload), Retain = true, RetainedOwnerId = owner },
            ref durable);
        return durable.ToTask();
    }

    /// <summary>A log whose writes the test completes or fails one by one.</summary>
    private sealed class RecordingLog : IRetainedReplication
    {
        private readonly List<TaskCompletionSource> _pending = [];

        public List<(BrokerMessage Message, string? Owner)> Writes { get; } = [];

        public TaskCompletionSource Current { get; } = new();

        public Task WriteAsync(BrokerMessage message, string? owner)
        {
            Writes.Add((message, owner));
            var write = new TaskCompletionSource();
            _pending.Add(write);
            return write.Task;
        }

        public Task WhenCurrentAsync() => Current.Task;

        public void Complete(int index) => _pending[index].SetResult();

        public void Fail(int index) => _pending[index].SetException(new TimeoutException("no PubAck"));
    }
}
