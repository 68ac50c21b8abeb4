using System.Text;
using Iot.Broker.Mqtt;
using Iot.TestUtilities;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>MQTT 5 features MQTTnet's own server lacks, proven through MQTTnet clients and a raw socket client.</summary>
[Collection(ProtocolBroker.Name)]
[Trait("Category", "Integration")]
public sealed class Mqtt5FeatureTests(BrokerFixture broker)
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(700);

    [Fact]
    public async Task SharedSubscription_EachMessageGoesToExactlyOneMember_Balanced()
    {
        var topic = TestIds.Topic("shared");
        await using var a = await TestClient.ConnectAsync(broker, Ids.Client("share-a"));
        await using var b = await TestClient.ConnectAsync(broker, Ids.Client("share-b"));
        await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("share-pub"));
        await a.SubscribeAsync($"$share/workers/{topic}");
        await b.SubscribeAsync($"$share/workers/{topic}");

        for (var i = 0; i < 40; i++)
        {
            await publisher.PublishAsync(topic, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        await Eventually.WaitUntilAsync(() => a.Pending + b.Pending >= 40, TimeSpan.FromSeconds(10), "40 messages across the group");
        await Task.Delay(Quiet); // room for any duplicate to show up
        Assert.Equal(40, a.Pending + b.Pending);
        Assert.InRange(a.Pending, 10, 30);
    }

    [Fact]
    public async Task ConnAck_AdvertisesBrokerCapabilities()
    {
        await using var client = await TestClient.ConnectAsync(broker, Ids.Client("caps"));
        var result = client.ConnectResult!;
        Assert.True(result.SharedSubscriptionAvailable);
        Assert.True(result.WildcardSubscriptionAvailable);
        Assert.True(result.SubscriptionIdentifiersAvailable);
        Assert.True(result.RetainAvailable);
        Assert.True(result.ReceiveMaximum > 0);
        Assert.True(result.MaximumPacketSize > 0);
        Assert.True(result.TopicAliasMaximum > 0);
    }

    [Fact]
    public async Task RequestResponse_PropertiesArePassedThrough()
    {
        var topic = TestIds.Topic("req");
        await using var responder = await TestClient.ConnectAsync(broker, Ids.Client("responder"));
        await using var requester = await TestClient.ConnectAsync(broker, Ids.Client("requester"));
        await responder.SubscribeAsync(topic);

        var correlation = new byte[] { 1, 2, 3, 250 };
        await requester.PublishAsync(topic, "{\"q\":1}", configure: m => m
            .WithResponseTopic(topic + "/reply")
            .WithCorrelationData(correlation)
            .WithContentType("application/json")
            .WithPayloadFormatIndicator(MqttPayloadFormatIndicator.CharacterData)
            .WithUserProperty("device", Encoding.UTF8.GetBytes("d-1").AsMemory())
            .WithUserProperty("trace", Encoding.UTF8.GetBytes("abc").AsMemory()));

        var received = await responder.ReceiveAsync();
        Assert.Equal(topic + "/reply", received.ResponseTopic);
        Assert.Equal(correlation, received.CorrelationData);
        Assert.Equal("application/json", received.ContentType);
        Assert.Equal(MqttPayloadFormatIndicator.CharacterData, received.PayloadFormatIndicator);
        Assert.Equal(["device=d-1", "trace=abc"], received.UserProperties.Select(p => $"{p.Name}={p.ReadValueAsString()}"));
    }

    [Fact]
    public async Task MessageExpiry_ExpiredMessageIsNotDelivered_RemainingIntervalIsForwarded()
    {
        var topic = TestIds.Topic("expiry");
        var clientId = Ids.Client("expiry-sub");
        await using (var subscriber = await TestClient.ConnectAsync(broker, clientId, o => o.WithCleanStart(false).WithSessionExpiryInterval(300)))
        {
            await subscriber.SubscribeAsync(topic);
            await subscriber.Client.DisconnectAsync();
        }

        await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("expiry-pub"));
        await publisher.PublishAsync(topic, "short", configure: m => m.WithMessageExpiryInterval(1));
        await publisher.PublishAsync(topic, "long", configure: m => m.WithMessageExpiryInterval(60));

        // Both were acknowledged, so received before now: a second on, the short one expired and the long one has
        // at most 59 s left.
        await WaitForBrokerTimeAsync(BrokerNow() + TimeSpan.FromSeconds(1));
        var expiredBefore = Metrics.Dropped(DropReason.Expired);

        await using var again = await TestClient.ConnectAsync(broker, clientId, o => o.WithCleanStart(false).WithSessionExpiryInterval(300));
        var received = await again.ReceiveAsync();
        Assert.Equal("long", received.ConvertPayloadToString());
        Assert.InRange(received.MessageExpiryInterval, 1u, 59u);
        Assert.Null(await again.TryReceiveAsync(Quiet));
        Assert.True(Metrics.Dropped(DropReason.Expired) > expiredBefore, "the expired message was dropped from the session's queue");
    }

    [Fact]
    public async Task RetainedMessage_WithExpiry_IsNotDeliveredAfterExpiry()
    {
        var topic = TestIds.Topic("retained-expiry");
        await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("rexp-pub"));
        await publisher.PublishAsync(topic, "gone soon", retain: true, configure: m => m.WithMessageExpiryInterval(1));
        var expiredBy = BrokerNow() + TimeSpan.FromSeconds(1);
        await publisher.PublishAsync(topic + "/x", "stays", retain: true);
        await WaitForBrokerTimeAsync(expiredBy);

        await using var subscriber = await TestClient.ConnectAsync(broker, Ids.Client("rexp-sub"));
        await subscriber.SubscribeAsync(topic + "/#");
        var received = await subscriber.ReceiveAsync();
        Assert.Equal("stays", received.ConvertPayloadToString());
        Assert.True(received.Retain);
        Assert.Null(await subscriber.TryReceiveAsync(Quiet));
    }

    [Fact]
    public async Task TopicAlias_InboundAliasesResolveToTheTopic()
    {
        var topic = TestIds.Topic("alias-in");
        await using var subscriber = await TestClient.ConnectAsync(broker, Ids.Client("alias-sub"));
        await subscriber.SubscribeAsync(topic);
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("alias-raw"), CleanSession = true, KeepAlivePeriod = 30 });
        await using (raw)
        {
            await raw.SendAsync(new MqttPublishPacket { Topic = topic, TopicAlias = 3, Payload = Bytes("one") });
            await raw.SendAsync(new MqttPublishPacket { Topic = string.Empty, TopicAlias = 3, Payload = Bytes("two") });
            Assert.Equal(topic, (await subscriber.ReceiveAsync()).Topic);
            var second = await subscriber.ReceiveAsync();
            Assert.Equal(topic, second.Topic);
            Assert.Equal("two", second.ConvertPayloadToString());
        }
    }

    [Fact]
    public async Task TopicAlias_OutboundAliasIsAssignedAndReused()
    {
        var topic = TestIds.Topic("alias-out");
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("alias-out"), CleanSession = true, KeepAlivePeriod = 30, TopicAliasMaximum = 4 });
        await using (raw)
        {
            await raw.SendAsync(new MqttSubscribePacket { PacketIdentifier = 1, TopicFilters = [new MqttTopicFilter { Topic = topic }] });
            Assert.NotNull(await raw.ReceiveAsync<MqttSubAckPacket>(TimeSpan.FromSeconds(5)));
            await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("alias-out-pub"));
            await publisher.PublishAsync(topic, "a", MqttQualityOfServiceLevel.AtMostOnce);
            await publisher.PublishAsync(topic, "b", MqttQualityOfServiceLevel.AtMostOnce);

            var first = await raw.ReceiveAsync<MqttPublishPacket>(TimeSpan.FromSeconds(5));
            var second = await raw.ReceiveAsync<MqttPublishPacket>(TimeSpan.FromSeconds(5));
            Assert.NotNull(first);
            Assert.NotNull(second);
            Assert.Equal(topic, first.Topic);
            Assert.NotEqual(0, first.TopicAlias);
            Assert.True(string.IsNullOrEmpty(second.Topic));
            Assert.Equal(first.TopicAlias, second.TopicAlias);
        }
    }

    [Fact]
    public async Task TopicAlias_AboveTheMaximum_DisconnectsWithTopicAliasInvalid()
    {
        var (raw, connack) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("alias-bad"), CleanSession = true, KeepAlivePeriod = 30 });
        await using (raw)
        {
            await raw.SendAsync(new MqttPublishPacket { Topic = "x/y", TopicAlias = (ushort)(connack.TopicAliasMaximum + 1), Payload = Bytes("z") });
            var disconnect = await raw.ReceiveAsync<MqttDisconnectPacket>(TimeSpan.FromSeconds(5));
            Assert.Equal(MqttDisconnectReasonCode.TopicAliasInvalid, disconnect?.ReasonCode);
        }
    }

    [Fact]
    public async Task ReceiveMaximum_OutboundWindowHonoursTheClientsReceiveMaximum()
    {
        var topic = TestIds.Topic("rxmax-out");
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("rxmax"), CleanSession = true, KeepAlivePeriod = 30, ReceiveMaximum = 2 });
        await using (raw)
        {
            await raw.SendAsync(new MqttSubscribePacket { PacketIdentifier = 1, TopicFilters = [new MqttTopicFilter { Topic = topic, QualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce }] });
            Assert.NotNull(await raw.ReceiveAsync<MqttSubAckPacket>(TimeSpan.FromSeconds(5)));
            await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("rxmax-pub"));
            for (var i = 0; i < 5; i++)
            {
                await publisher.PublishAsync(topic, i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            var p1 = await raw.ReceiveAsync<MqttPublishPacket>(TimeSpan.FromSeconds(5));
            var p2 = await raw.ReceiveAsync<MqttPublishPacket>(TimeSpan.FromSeconds(5));
            Assert.NotNull(p1);
            Assert.NotNull(p2);
            Assert.Null(await raw.ReceiveAsync<MqttPublishPacket>(Quiet));

            await raw.SendAsync(new MqttPubAckPacket { PacketIdentifier = p1.PacketIdentifier });
            var p3 = await raw.ReceiveAsync<MqttPublishPacket>(TimeSpan.FromSeconds(5));
            Assert.Equal("2", Encoding.UTF8.GetString(System.Buffers.BuffersExtensions.ToArray(p3!.Payload)));
        }
    }

    [Fact]
    public async Task MaximumPacketSize_Outbound_OversizedMessageIsNotSentToThatClient()
    {
        var topic = TestIds.Topic("maxpkt-out");
        await using var small = await TestClient.ConnectAsync(broker, Ids.Client("maxpkt-small"), o => o.WithMaximumPacketSize(256));
        await small.SubscribeAsync(topic);
        await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("maxpkt-pub"));
        await publisher.PublishAsync(topic, new string('x', 1000));
        await publisher.PublishAsync(topic, "fits");

        var received = await small.ReceiveAsync();
        Assert.Equal("fits", received.ConvertPayloadToString());
    }

    [Fact]
    public async Task SubscriptionIdentifiers_AreSentWithMatchingMessages()
    {
        var topic = TestIds.Topic("subid");
        await using var client = await TestClient.ConnectAsync(broker, Ids.Client("subid"));
        await client.SubscribeAsync(topic + "/#", subscriptionId: 7);
        await client.SubscribeAsync(topic + "/+", subscriptionId: 9);
        await client.PublishAsync(topic + "/a", "x");

        var received = await client.ReceiveAsync();
        Assert.Equal([7u, 9u], received.SubscriptionIdentifiers.Order());
        Assert.Null(await client.TryReceiveAsync(Quiet));
    }

    [Fact]
    public async Task NoLocal_OwnMessagesAreNotEchoed()
    {
        var topic = TestIds.Topic("nolocal");
        await using var client = await TestClient.ConnectAsync(broker, Ids.Client("nolocal"));
        await using var other = await TestClient.ConnectAsync(broker, Ids.Client("nolocal-other"));
        await client.SubscribeAsync(topic, configure: f => f.WithNoLocal(true));
        await client.PublishAsync(topic, "mine");
        await other.PublishAsync(topic, "theirs");

        Assert.Equal("theirs", (await client.ReceiveAsync()).ConvertPayloadToString());
        Assert.Null(await client.TryReceiveAsync(Quiet));
    }

    [Fact]
    public async Task RetainHandling_AndRetainAsPublished_AreHonoured()
    {
        var topic = TestIds.Topic("rh");
        await using var publisher = await TestClient.ConnectAsync(broker, Ids.Client("rh-pub"));
        await publisher.PublishAsync(topic, "kept", retain: true);

        await using var never = await TestClient.ConnectAsync(broker, Ids.Client("rh-never"));
        await never.SubscribeAsync(topic, configure: f => f.WithRetainHandling(MqttRetainHandling.DoNotSendOnSubscribe).WithRetainAsPublished(true));
        await using var plain = await TestClient.ConnectAsync(broker, Ids.Client("rh-plain"));
        await plain.SubscribeAsync(topic);
        var onSubscribe = await plain.ReceiveAsync();
        Assert.True(onSubscribe.Retain);

        await publisher.PublishAsync(topic, "live", retain: true);
        var rap = await never.ReceiveAsync();
        Assert.Equal("live", rap.ConvertPayloadToString());
        Assert.True(rap.Retain);
        var notRap = await plain.ReceiveAsync();
        Assert.False(notRap.Retain);
        await publisher.PublishAsync(topic, string.Empty, retain: true);
    }

    [Fact]
    public async Task Qos2_ResentPublishBeforePubRel_IsDeliveredOnce()
    {
        var topic = TestIds.Topic("qos2-dup");
        await using var subscriber = await TestClient.ConnectAsync(broker, Ids.Client("qos2-sub"));
        await subscriber.SubscribeAsync(topic, MqttQualityOfServiceLevel.ExactlyOnce);
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = Ids.Client("qos2-raw"), CleanSession = true, KeepAlivePeriod = 30 });
        await using (raw)
        {
            var publish = new MqttPublishPacket { Topic = topic, PacketIdentifier = 42, QualityOfServiceLevel = MqttQualityOfServiceLevel.ExactlyOnce, Payload = Bytes("once") };
            await raw.SendAsync(publish);
            Assert.NotNull(await raw.ReceiveAsync<MqttPubRecPacket>(TimeSpan.FromSeconds(5)));
            publish.Dup = true;
            await raw.SendAsync(publish);
            Assert.NotNull(await raw.ReceiveAsync<MqttPubRecPacket>(TimeSpan.FromSeconds(5)));
            await raw.SendAsync(new MqttPubRelPacket { PacketIdentifier = 42 });
            var comp = await raw.ReceiveAsync<MqttPubCompPacket>(TimeSpan.FromSeconds(5));
            Assert.Equal(MqttPubCompReasonCode.Success, comp?.ReasonCode);
        }

        Assert.Equal("once", (await subscriber.ReceiveAsync()).ConvertPayloadToString());
        Assert.Null(await subscriber.TryReceiveAsync(Quiet));
    }

    [Fact]
    public async Task SessionTakeover_OldConnectionGetsSessionTakenOver()
    {
        var clientId = Ids.Client("takeover");
        var (first, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = clientId, CleanSession = true, KeepAlivePeriod = 30 });
        await using (first)
        {
            await using var second = await TestClient.ConnectAsync(broker, clientId);
            var disconnect = await first.ReceiveAsync<MqttDisconnectPacket>(TimeSpan.FromSeconds(5));
            Assert.Equal(MqttDisconnectReasonCode.SessionTakenOver, disconnect?.ReasonCode);
            Assert.True(second.Client.IsConnected);
        }
    }

    [Fact]
    public async Task SessionExpiry_SessionEndsAfterItsInterval_SetAtDisconnect()
    {
        var clientId = Ids.Client("sess-exp");
        await using (var client = await TestClient.ConnectAsync(broker, clientId, o => o.WithCleanStart(false).WithSessionExpiryInterval(60)))
        {
            await client.SubscribeAsync(TestIds.Topic("sess-exp"));
        }

        await using (var resumed = await TestClient.ConnectAsync(broker, clientId, o => o.WithCleanStart(false).WithSessionExpiryInterval(60)))
        {
            Assert.True(resumed.ConnectResult!.IsSessionPresent);

            // MQTT 5 §3.14.2.2.2: DISCONNECT may shorten the session expiry interval.
            await resumed.Client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithSessionExpiryInterval(1).Build());
        }

        // The maintenance tick ends the session once its second has passed: wait for that, then connect.
        var sessions = broker.App.Services.GetRequiredService<SessionManager>();
        await Eventually.WaitUntilAsync(() => !sessions.TryGetSession(clientId, out _), TimeSpan.FromSeconds(30), "the session expired");
        await using var late = await TestClient.ConnectAsync(broker, clientId, o => o.WithCleanStart(false).WithSessionExpiryInterval(60));
        Assert.False(late.ConnectResult!.IsSessionPresent);
    }

    [Fact]
    public async Task WillDelay_WillIsPublishedAfterTheDelay_AndCancelledByAReconnect()
    {
        var topic = TestIds.Topic("will-delay");
        await using var watcher = await TestClient.ConnectAsync(broker, Ids.Client("will-watch"));
        await watcher.SubscribeAsync(topic);

        var clientId = Ids.Client("will-client");
        var connect = new MqttConnectPacket
        {
            ClientId = clientId,
            CleanSession = true,
            KeepAlivePeriod = 30,
            SessionExpiryInterval = 60,
            WillFlag = true,
            WillTopic = topic,
            WillMessage = Encoding.UTF8.GetBytes("gone"),
            WillDelayInterval = 10,
        };

        // Dropped and back well within the delay: no will.
        var (dropped, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, connect);
        await dropped.DisposeAsync();
        await using (var back = await TestClient.ConnectAsync(broker, clientId, o => o.WithCleanStart(false).WithSessionExpiryInterval(60)))
        {
            Assert.Null(await watcher.TryReceiveAsync(TimeSpan.FromSeconds(3)));
            await back.Client.DisconnectAsync();
        }

        // Dropped for good: the will comes after about 2 s, not at once.
        connect.WillDelayInterval = 2;
        var (lost, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, connect);
        var droppedAt = DateTime.UtcNow;
        await lost.DisposeAsync();
        var will = await watcher.ReceiveAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("gone", will.ConvertPayloadToString());
        Assert.True(DateTime.UtcNow - droppedAt >= TimeSpan.FromSeconds(1.5), "the will waited for its delay");
    }

    [Fact]
    public async Task Will_NormalDisconnectDiscardsIt_DisconnectWithWillSendsIt()
    {
        var topic = TestIds.Topic("will");
        await using var watcher = await TestClient.ConnectAsync(broker, Ids.Client("will-w"));
        await watcher.SubscribeAsync(topic);

        var clean = await TestClient.ConnectAsync(broker, Ids.Client("will-clean"), o => o.WithWillTopic(topic).WithWillPayload("clean"));
        await clean.Client.DisconnectAsync();
        clean.Client.Dispose();

        var withWill = await TestClient.ConnectAsync(broker, Ids.Client("will-with"), o => o.WithWillTopic(topic).WithWillPayload("with-will"));
        await withWill.Client.DisconnectAsync(new MqttClientDisconnectOptionsBuilder().WithReason(MqttClientDisconnectOptionsReason.DisconnectWithWillMessage).Build());
        withWill.Client.Dispose();

        Assert.Equal("with-will", (await watcher.ReceiveAsync()).ConvertPayloadToString());
        Assert.Null(await watcher.TryReceiveAsync(Quiet));
    }

    private static System.Buffers.ReadOnlySequence<byte> Bytes(string text) => new(Encoding.UTF8.GetBytes(text));

    private BrokerMetrics Metrics => broker.App.Services.GetRequiredService<BrokerMetrics>();

    /// <summary>The broker's clock (its <see cref="TimeProvider"/>), which decides when a message expires.</summary>
    private DateTimeOffset BrokerNow() => broker.App.Services.GetRequiredService<TimeProvider>().GetUtcNow();

    /// <summary>Waits until the broker's clock has passed <paramref name="instant"/> (an expiry), with a generous deadline.</summary>
    private Task WaitForBrokerTimeAsync(DateTimeOffset instant) =>
        Eventually.WaitUntilAsync(() => BrokerNow() > instant, TimeSpan.FromSeconds(30), "the broker's clock passed the expiry");
}
