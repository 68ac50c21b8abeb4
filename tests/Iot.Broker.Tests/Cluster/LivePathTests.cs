using System.Buffers;
using System.Text;
using Iot.Broker.Cluster.Live;
using Iot.Broker.Mqtt;
using MQTTnet.Packets;

namespace Iot.Broker.Tests.Cluster;

/// <summary>Issue 18: the live path's envelope, its de-duplication window and its interest counting.</summary>
public sealed class LivePathTests
{
    [Fact]
    public void Envelope_RoundTrip_KeepsEveryPropertyAndTheRemainingExpiry()
    {
        var message = new BrokerMessage
        {
            Topic = "a/b",
            Payload = Encoding.UTF8.GetBytes("hello"),
            QualityOfService = 2,
            Retain = true,
            ExpiresAtUnixMs = 1_000_000 + 7_500,
            ContentType = "text/plain",
            ResponseTopic = "reply/here",
            CorrelationData = [1, 2, 3],
            PayloadFormatIndicator = 1,
            UserProperties = [new MqttUserProperty("k", Encoding.UTF8.GetBytes("v1").AsMemory()), new MqttUserProperty("k", Encoding.UTF8.GetBytes("v2").AsMemory())],
            SourceClientId = "pub",
            ReceivedAtUnixMs = 999_000,
        };
        var writer = new ArrayBufferWriter<byte>();
        LiveEnvelope.Write(writer, new LiveEnvelope.Outbound(message, "pub", "node-a"u8.ToArray(), 42, NowUnixMs: 1_000_000));

        // The receiving node's clock is elsewhere: the expiry counts from its own now.
        Assert.True(LiveEnvelope.TryRead(new ReadOnlySequence<byte>(writer.WrittenMemory), "a/b", 5_000_000, out var inbound));
        var read = inbound.Message;
        Assert.Equal("node-a", Encoding.ASCII.GetString(inbound.Origin.Span));
        Assert.Equal(42UL, inbound.MessageId);
        Assert.Equal("pub", inbound.PublisherClientId);
        Assert.Equal("pub", read.SourceClientId);
        Assert.Equal("a/b", read.Topic);
        Assert.Equal("hello", Encoding.UTF8.GetString(read.Payload.Span));
        Assert.Equal(2, read.QualityOfService);
        Assert.True(read.Retain);
        Assert.Equal(5_000_000 + 7_500, read.ExpiresAtUnixMs);
        Assert.Equal("text/plain", read.ContentType);
        Assert.Equal("reply/here", read.ResponseTopic);
        Assert.Equal(new byte[] { 1, 2, 3 }, read.CorrelationData);
        Assert.Equal(1, read.PayloadFormatIndicator);
        Assert.Equal(["v1", "v2"], read.UserProperties!.Select(p => p.ReadValueAsString()));
        Assert.Equal(999_000, read.ReceivedAtUnixMs);
    }

    [Fact]
    public void Envelope_MinimalMessage_RoundTripsWithNullsKept()
    {
        var message = new BrokerMessage { Topic = "t", Payload = ReadOnlyMemory<byte>.Empty, SourceClientId = "src" };
        var writer = new ArrayBufferWriter<byte>();
        LiveEnvelope.Write(writer, new LiveEnvelope.Outbound(message, null, "n"u8.ToArray(), 1, 0));
        Assert.True(LiveEnvelope.TryRead(new ReadOnlySequence<byte>(writer.WrittenMemory), "t", 10, out var inbound));
        Assert.Null(inbound.PublisherClientId);
        Assert.Equal("src", inbound.Message.SourceClientId);
        Assert.Null(inbound.Message.ContentType);
        Assert.Null(inbound.Message.CorrelationData);
        Assert.Null(inbound.Message.UserProperties);
        Assert.Equal(0, inbound.Message.ExpiresAtUnixMs);
        Assert.True(inbound.Message.Payload.IsEmpty);
    }

    [Theory]
    [InlineData(new byte[] { })]
    [InlineData(new byte[] { 2, 0, 0, 0, 0 })]
    [InlineData(new byte[] { 1, 0, 0, 0, 10, 1 })]
    public void Envelope_Unreadable_IsRefused(byte[] body)
    {
        Assert.False(LiveEnvelope.TryRead(new ReadOnlySequence<byte>(body), "t", 0, out _));
    }

    [Fact]
    public void OriginWindow_CopiesAndReorderedIds_AcceptedOnceEach()
    {
        var window = new OriginWindow();
        Assert.True(window.TryAccept(100));
        Assert.False(window.TryAccept(100));
        Assert.True(window.TryAccept(103));
        Assert.True(window.TryAccept(101));
        Assert.False(window.TryAccept(101));
        Assert.True(window.TryAccept(102));
        Assert.False(window.TryAccept(103));

        // Far ahead (an origin's restart starts higher): everything before is forgotten, and too old to tell is a copy.
        Assert.True(window.TryAccept(1_000_000));
        Assert.False(window.TryAccept(1_000_000 - OriginWindow.Size));
        Assert.True(window.TryAccept(1_000_000 - OriginWindow.Size + 1));
    }

    [Fact]
    public void OriginWindow_SlidingPastOldIds_ForgetsThemAndKeepsRecentOnes()
    {
        var window = new OriginWindow();
        for (ulong id = 1; id <= 10_000; id += 2)
        {
            Assert.True(window.TryAccept(id));
        }

        for (ulong id = 10_000 - 2000; id < 10_000; id++)
        {
            Assert.Equal(id % 2 == 0, window.TryAccept(id));
        }
    }

    [Fact]
    public void Interest_OverlappingFilters_SubscribeEachSubjectOnceAndUnsubscribeOnLastRemoval()
    {
        var interest = new LiveInterest("iot.m");
        interest.FilterAdded("a/#");
        interest.FilterAdded("a");
        interest.FilterAdded("a/#");
        var subjects = new List<(string Subject, bool Wanted)>();
        var groups = new List<((string Share, string Filter) Key, SharedGroup? Group)>();
        interest.TakeChanges(subjects);
        Assert.Equal([("iot.m.t.a", true), ("iot.m.t.a.>", true)], subjects.OrderBy(s => s.Subject));

        subjects.Clear();
        interest.FilterRemoved("a/#");
        interest.FilterRemoved("a");
        interest.TakeChanges(subjects);
        Assert.Empty(subjects);

        interest.FilterRemoved("a/#");
        interest.TakeChanges(subjects);
        Assert.Equal([("iot.m.t.a", false), ("iot.m.t.a.>", false)], subjects.OrderBy(s => s.Subject));
        Assert.Empty(groups);
    }

    [Fact]
    public void Interest_SharedGroupReplaced_GivesTheCurrentObject_AndNoNatsChange()
    {
        var interest = new LiveInterest("iot.m");
        var first = new SharedGroup { ShareName = "g", TopicFilter = "x/+" };
        var second = new SharedGroup { ShareName = "g", TopicFilter = "x/+" };
        interest.GroupAdded(first);
        interest.GroupRemoved(first);
        interest.GroupAdded(second);
        interest.GroupRemoved(first);
        Assert.Same(second, interest.GroupOf("g", "x/+"));
        Assert.Null(interest.GroupOf("g", "x/#"));
        var subjects = new List<(string Subject, bool Wanted)>();
        interest.TakeChanges(subjects);
        Assert.Empty(subjects);
        interest.GroupRemoved(second);
        Assert.Null(interest.GroupOf("g", "x/+"));
    }

    [Fact]
    public void MemberEnvelope_RoundTrip_CarriesTheMemberTheGroupAndTheTopic()
    {
        var message = new BrokerMessage { Topic = "a b/%/.*>", Payload = "x"u8.ToArray(), QualityOfService = 1, SourceClientId = "pub" };
        var writer = new ArrayBufferWriter<byte>();
        var target = new LiveEnvelope.MemberTarget(LiveLink.MemberSubject("iot.m", "node-b"), "worker/1", "g", "a b/#");
        LiveEnvelope.Write(writer, new LiveEnvelope.Outbound(message, null, "node-a"u8.ToArray(), 7, 0, target));

        Assert.True(LiveEnvelope.TryReadForMember(new ReadOnlySequence<byte>(writer.WrittenMemory), 0, out var inbound, out var read));
        Assert.Equal(("worker/1", "g", "a b/#"), (read.ClientId, read.Share, read.Filter));
        Assert.Equal("a b/%/.*>", inbound.Message.Topic);
        Assert.Equal("x", Encoding.UTF8.GetString(inbound.Message.Payload.Span));
        Assert.Equal("pub", inbound.Message.SourceClientId);
        Assert.Equal("iot.m.g.node-b", target.Subject);

        // Cut anywhere, it is refused, never thrown.
        for (var length = 0; length < writer.WrittenCount - 1; length++)
        {
            Assert.False(LiveEnvelope.TryReadForMember(new ReadOnlySequence<byte>(writer.WrittenMemory[..length]), 0, out _, out _));
        }
    }
}
