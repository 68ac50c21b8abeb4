using System.Collections.Concurrent;
using System.Text;
using Iot.Broker.Mqtt;
using Iot.Messaging;
using Iot.TestUtilities;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Packets;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Protocol;

/// <summary>A broker whose session queue holds 100 messages: far fewer than the retained messages a subscription matches.</summary>
public sealed class SmallQueueBroker() : BrokerFixture(["--Iot:Mqtt:MaxQueuedMessages=100"])
{
    public const int MaxQueuedMessages = 100;
}

/// <summary>
/// Retained messages on SUBSCRIBE are flow-controlled, not pushed into the bounded session queue: every match
/// arrives, the queue bound still holds for live traffic, and per topic nothing older follows something newer.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RetainedOnSubscribeTests(SmallQueueBroker broker) : IClassFixture<SmallQueueBroker>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan PacketWait = TimeSpan.FromSeconds(10);

    private BrokerMetrics Metrics => broker.App.Services.GetRequiredService<BrokerMetrics>();

    [Theory]
    [InlineData(MqttQualityOfServiceLevel.AtMostOnce)]
    [InlineData(MqttQualityOfServiceLevel.AtLeastOnce)]
    public async Task WildcardSubscribe_TwentyThousandRetained_AllArriveOnceWithRetainFlag(MqttQualityOfServiceLevel qos)
    {
        const int Count = 20_000;
        var root = TestIds.Topic("retained-all");
        await RetainedSeed.PublishAsync(broker, root, Count);
        var droppedBefore = Metrics.Dropped(DropReason.QueueFull);

        var received = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var withoutRetain = 0;
        var all = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var subscriber = await TestClient.ConnectAsync(broker, Ids.Client("retained-all"));
        subscriber.Client.ApplicationMessageReceivedAsync += e =>
        {
            if (!e.ApplicationMessage.Retain)
            {
                Interlocked.Increment(ref withoutRetain);
            }

            received.AddOrUpdate(e.ApplicationMessage.Topic, 1, static (_, n) => n + 1);
            if (received.Count == Count)
            {
                all.TrySetResult();
            }

            return Task.CompletedTask;
        };

        await subscriber.SubscribeAsync(root + "/#", qos);

        await all.Task.WaitAsync(Wait);
        Assert.Equal(Count, received.Count);
        Assert.All(received, pair => Assert.Equal(1, pair.Value));
        Assert.Equal(0, Volatile.Read(ref withoutRetain));
        Assert.Equal(droppedBefore, Metrics.Dropped(DropReason.QueueFull));
        await Eventually.WaitUntilAsync(() => Metrics.RetainedPending == 0, Wait, "no retained message left pending");
    }

    [Fact]
    public async Task RetainedTopicUpdatedOrClearedWhilePending_OlderValueNeverFollowsAndClearedIsNotSent()
    {
        const int Count = 300;
        var root = TestIds.Topic("retained-update");
        await RetainedSeed.PublishAsync(broker, root, Count, "old");
        var clientId = Ids.Client("retained-update");
        await using var raw = await SubscribeWithoutAckingAsync(clientId, root + "/#");
        var first = await ReceivePublishAsync(raw);
        await Eventually.WaitUntilAsync(() => Session(clientId).RetainedPending == Count - 1, Wait, "the cursor waits for the in-flight window");

        // Topics the cursor has not reached yet (the first one sent is whichever the index enumerates first).
        var pendingTopics = Enumerable.Range(0, Count).Select(i => RetainedSeed.Topic(root, i)).Where(t => t != first.Topic).ToArray();
        var updated = pendingTopics[^1];
        var cleared = pendingTopics[^2];
        var publisher = broker.App.Services.GetRequiredService<IMqttPublisher>();
        await publisher.PublishAsync(updated, "new"u8.ToArray(), 1, retain: true);
        await publisher.PublishAsync(cleared, ReadOnlyMemory<byte>.Empty, 1, retain: true);

        var messages = new List<(string Topic, string Payload, bool Retain)> { (first.Topic, Text(first), first.Retain) };
        await raw.SendAsync(new MqttPubAckPacket { PacketIdentifier = first.PacketIdentifier });

        // Every retained topic but the cleared one, plus the two live publishes (the new value and the clearing).
        while (messages.Count(m => m.Retain) < Count - 1 || messages.Count(m => !m.Retain) < 2)
        {
            var publish = await ReceivePublishAsync(raw);
            messages.Add((publish.Topic, Text(publish), publish.Retain));
            await raw.SendAsync(new MqttPubAckPacket { PacketIdentifier = publish.PacketIdentifier });
        }

        Assert.DoesNotContain(messages, m => m.Topic == cleared && m.Payload == "old");
        var forUpdated = messages.Where(m => m.Topic == updated).Select(m => m.Payload).ToArray();
        Assert.Contains("new", forUpdated);
        Assert.True(Array.LastIndexOf(forUpdated, "old") < Array.IndexOf(forUpdated, "new"), $"old after new: {string.Join(", ", forUpdated)}");
        Assert.Equal("new", forUpdated[^1]);
        var retainedTopics = messages.Where(m => m.Retain).Select(m => m.Topic).ToArray();
        Assert.Equal(retainedTopics.Length, retainedTopics.Distinct().Count());
        await Eventually.WaitUntilAsync(() => Session(clientId).RetainedPending == 0, Wait, "the cursor ran to its end");
    }

    [Fact]
    public async Task SlowConsumerWithRetainedPending_LiveTrafficKeepsTheQueueBound_ThenEverythingArrives()
    {
        const int Count = 300;
        const int Live = 500;
        var root = TestIds.Topic("retained-bound");
        await RetainedSeed.PublishAsync(broker, root, Count);
        var clientId = Ids.Client("retained-bound");
        await using var raw = await SubscribeWithoutAckingAsync(clientId, root + "/#");
        var first = await ReceivePublishAsync(raw);
        var session = Session(clientId);
        await Eventually.WaitUntilAsync(() => session.RetainedPending == Count - 1, Wait, "the cursor waits for the in-flight window");

        var droppedBefore = Metrics.Dropped(DropReason.QueueFull);
        var publisher = broker.App.Services.GetRequiredService<IMqttPublisher>();
        await Task.WhenAll(Enumerable.Range(0, Live).Select(i => publisher.PublishAsync(root + "/live", Encoding.UTF8.GetBytes($"live {i}"), 1, retain: false)));

        // One in flight (the client's Receive Maximum) plus the queue bound; the rest of the live messages are dropped
        // as before, and the retained messages still owed wait outside the queue.
        Assert.Equal(1 + SmallQueueBroker.MaxQueuedMessages, session.QueuedCount);
        Assert.Equal(Live - SmallQueueBroker.MaxQueuedMessages, Metrics.Dropped(DropReason.QueueFull) - droppedBefore);
        Assert.Equal(Count - 1, session.RetainedPending);

        // Once the client reads, the queued live messages go first, then the cursor resumes.
        var retained = new HashSet<string>(StringComparer.Ordinal) { first.Topic };
        var live = 0;
        var lastLiveIndex = -1;
        var index = 0;
        await raw.SendAsync(new MqttPubAckPacket { PacketIdentifier = first.PacketIdentifier });
        while (retained.Count < Count || live < SmallQueueBroker.MaxQueuedMessages)
        {
            var publish = await ReceivePublishAsync(raw);
            index++;
            if (publish.Retain)
            {
                Assert.True(retained.Add(publish.Topic), $"{publish.Topic} twice");
            }
            else
            {
                live++;
                lastLiveIndex = index;
            }

            await raw.SendAsync(new MqttPubAckPacket { PacketIdentifier = publish.PacketIdentifier });
        }

        Assert.Equal(SmallQueueBroker.MaxQueuedMessages, lastLiveIndex);
        Assert.Equal(0, session.RetainedPending);
    }

    [Fact]
    public async Task SlowQos0ConsumerWithRetainedPending_SendBufferKeepsTheBound_ThenEverythingArrives()
    {
        // 16 MB of retained messages: more than the socket buffers hold while the client does not read.
        const int Count = 2000;
        const int Live = 500;
        var root = TestIds.Topic("retained-bound0");
        await RetainedSeed.PublishAsync(broker, root, Count, new string('r', 8192));
        var clientId = Ids.Client("retained-bound0");
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = clientId, CleanSession = true, KeepAlivePeriod = 60 });
        await using (raw)
        {
            await raw.SendAsync(new MqttSubscribePacket { PacketIdentifier = 1, TopicFilters = [new MqttTopicFilter { Topic = root + "/#", QualityOfServiceLevel = MqttQualityOfServiceLevel.AtMostOnce }] });
            Assert.NotNull(await raw.ReceiveAsync<MqttSubAckPacket>(PacketWait));
            var session = Session(clientId);
            var connection = session.Target ?? throw new InvalidOperationException("not connected");
            await Eventually.WaitUntilAsync(() => session.RetainedPending > 0, Wait, "the cursor stops while the client does not read");
            var publisher = broker.App.Services.GetRequiredService<IMqttPublisher>();
            var highest = 0;
            for (var i = 0; i < Live; i++)
            {
                await publisher.PublishAsync(root + "/live", Encoding.UTF8.GetBytes($"live {i}"), 0, retain: false);
                highest = Math.Max(highest, connection.QueuedQos0);
            }

            Assert.InRange(highest, 0, SmallQueueBroker.MaxQueuedMessages);
            Assert.InRange(session.RetainedPending, 1, Count);
            Assert.Equal(0, session.QueuedCount);

            var retained = new HashSet<string>(StringComparer.Ordinal);
            while (retained.Count < Count)
            {
                var publish = await ReceivePublishAsync(raw);
                if (publish.Retain)
                {
                    Assert.True(retained.Add(publish.Topic), $"{publish.Topic} twice");
                }
            }

            Assert.Equal(0, session.RetainedPending);
        }
    }

    [Fact]
    public async Task DisconnectOrUnsubscribeMidCursor_FreesIt()
    {
        const int Count = 200;
        var root = TestIds.Topic("retained-free");
        await RetainedSeed.PublishAsync(broker, root, Count);
        Assert.Equal(0, Metrics.RetainedPending);

        var unsubscriber = Ids.Client("retained-unsub");
        await using (var raw = await SubscribeWithoutAckingAsync(unsubscriber, root + "/#"))
        {
            await ReceivePublishAsync(raw);
            await Eventually.WaitUntilAsync(() => Metrics.RetainedPending == Count - 1, Wait, "a cursor pending");
            await raw.SendAsync(new MqttUnsubscribePacket { PacketIdentifier = 2, TopicFilters = [root + "/#"] });
            Assert.NotNull(await raw.ReceiveAsync<MqttUnsubAckPacket>(PacketWait));
            Assert.Equal(0, Metrics.RetainedPending);
            Assert.Equal(0, Session(unsubscriber).RetainedPending);
        }

        var disconnecter = Ids.Client("retained-gone");
        await using (var raw = await SubscribeWithoutAckingAsync(disconnecter, root + "/#"))
        {
            await ReceivePublishAsync(raw);
            await Eventually.WaitUntilAsync(() => Metrics.RetainedPending == Count - 1, Wait, "a cursor pending");
        }

        await Eventually.WaitUntilAsync(() => Metrics.RetainedPending == 0, Wait, "the cursor ended with its connection");
    }

    [Fact]
    public async Task MaxRetainedPerSubscribe_Bites_SendsThatManyAndCountsItInMetrics()
    {
        await using var limited = await BrokerFixture.StartAsync("--Iot:Mqtt:MaxRetainedPerSubscribe=5");
        var root = TestIds.Topic("retained-limit");
        await RetainedSeed.PublishAsync(limited, root, 8);
        await using var subscriber = await TestClient.ConnectAsync(limited, Ids.Client("retained-limit"));
        await subscriber.SubscribeAsync(root + "/#");
        for (var i = 0; i < 5; i++)
        {
            Assert.True((await subscriber.ReceiveAsync()).Retain);
        }

        await subscriber.PublishAsync(root + "/marker", "marker");
        Assert.Equal("marker", (await subscriber.ReceiveAsync()).ConvertPayloadToString());

        using var http = new HttpClient { BaseAddress = limited.HttpBaseUri };
        var metrics = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        Assert.Contains("iot_mqtt_limit{limit=\"max_retained_per_subscribe\"} 5\n", metrics, StringComparison.Ordinal);
        Assert.Contains("iot_mqtt_limit_hits_total{limit=\"max_retained_per_subscribe\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("iot_mqtt_retained_pending 0\n", metrics, StringComparison.Ordinal);
    }

    private MqttSession Session(string clientId) =>
        broker.App.Services.GetRequiredService<SessionManager>().TryGetSession(clientId, out var session)
            ? session
            : throw new InvalidOperationException($"no session {clientId}");

    /// <summary>An MQTT 5 client with Receive Maximum 1 that subscribes at QoS 1; it acknowledges only what the test does.</summary>
    private async Task<RawMqttClient> SubscribeWithoutAckingAsync(string clientId, string filter)
    {
        var (raw, _) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket { ClientId = clientId, CleanSession = true, KeepAlivePeriod = 60, ReceiveMaximum = 1 });
        await raw.SendAsync(new MqttSubscribePacket { PacketIdentifier = 1, TopicFilters = [new MqttTopicFilter { Topic = filter, QualityOfServiceLevel = MqttQualityOfServiceLevel.AtLeastOnce }] });
        Assert.NotNull(await raw.ReceiveAsync<MqttSubAckPacket>(PacketWait));
        return raw;
    }

    private static async Task<MqttPublishPacket> ReceivePublishAsync(RawMqttClient raw) =>
        await raw.ReceiveAsync<MqttPublishPacket>(PacketWait) ?? throw new TimeoutException("no PUBLISH in time");

    private static string Text(MqttPublishPacket publish) => Encoding.UTF8.GetString(System.Buffers.BuffersExtensions.ToArray(publish.Payload));
}
