using System.Globalization;
using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests;

/// <summary>The broker driven by Eclipse Mosquitto's command-line clients (Debian mosquitto-clients), MQTT 3.1.1 and 5.</summary>
[Collection(MosquittoClientsCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class MosquittoClientTests(BrokerFixture broker) : MosquittoClientTestsBase
{
    protected override int SubscriberPort => broker.MqttPort;

    protected override int PublisherPort => broker.MqttPort;

    protected override Task SeedRetainedAsync(string root, int count) => RetainedSeed.PublishAsync(broker, root, count);
}

/// <summary>
/// What Eclipse Mosquitto's command-line clients (Debian mosquitto-clients, MQTT 3.1.1 and 5) must see from a broker:
/// inherited by the single broker (<see cref="MosquittoClientTests"/>) and by a cluster whose subscribers and
/// publishers are on different nodes (<see cref="Cluster.ClusterMosquittoClientTests"/>), so both pass the same tests.
/// </summary>
public abstract class MosquittoClientTestsBase
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);

    [Theory]
    [InlineData("mqttv311", 0)]
    [InlineData("mqttv311", 1)]
    [InlineData("mqttv311", 2)]
    [InlineData("mqttv5", 0)]
    [InlineData("mqttv5", 1)]
    [InlineData("mqttv5", 2)]
    public async Task Publish_AtQos_DeliveredEndToEndAtThatQos(string version, int qos)
    {
        var topic = TestIds.Topic($"mosquitto/qos{qos}");
        var q = qos.ToString(CultureInfo.InvariantCulture);
        await using var sub = await ExternalClients.StartMosquittoSubAsync([.. Connect(version, "msub"), "-t", topic, "-q", q]);
        Assert.Equal([qos], sub.GrantedQos);

        (await ExternalClients.MosquittoPubAsync([.. ConnectPublisher(version, "mpub"), "-t", topic, "-q", q, "-m", $"hello at qos {q}"])).EnsureSuccess();

        var message = Assert.Single(await sub.WaitForMessagesAsync(1, Wait));
        Assert.Equal(topic, message.Topic);
        Assert.Equal($"hello at qos {q}", message.Payload);
        Assert.Equal(qos, message.QualityOfService);
        Assert.False(message.Retain);
    }

    [Theory]
    [InlineData("mqttv311")]
    [InlineData("mqttv5")]
    public async Task Publish_HigherQosThanSubscription_DeliveredAtSubscriptionQos(string version)
    {
        var topic = TestIds.Topic("mosquitto/downgrade");
        await using var sub = await ExternalClients.StartMosquittoSubAsync([.. Connect(version, "msub"), "-t", topic, "-q", "1"]);

        (await ExternalClients.MosquittoPubAsync([.. ConnectPublisher(version, "mpub"), "-t", topic, "-q", "2", "-m", "downgraded"])).EnsureSuccess();

        var message = Assert.Single(await sub.WaitForMessagesAsync(1, Wait));
        Assert.Equal("downgraded", message.Payload);
        Assert.Equal(1, message.QualityOfService);
    }

    [Theory]
    [InlineData("mqttv311")]
    [InlineData("mqttv5")]
    public async Task Retained_SetReplaceClear_NewSubscribersSeeLatestWithRetainFlag(string version)
    {
        var topic = TestIds.Topic("mosquitto/retained");

        // A subscription that exists before each publish gets the messages live, with RETAIN 0 [MQTT-3.3.1-9].
        await using var live = await ExternalClients.StartMosquittoSubAsync([.. Connect(version, "mlive"), "-t", topic, "-q", "1"]);

        await PublishAsync(version, topic, "-r", "-q", "1", "-m", "first");
        var onSubscribe = await RetainedOnSubscribeAsync(version, topic);
        var first = Assert.Single(onSubscribe);
        Assert.Equal(("first", true, topic), (first.Payload, first.Retain, first.Topic));

        await PublishAsync(version, topic, "-r", "-q", "1", "-m", "second");
        var replaced = Assert.Single(await RetainedOnSubscribeAsync(version, topic));
        Assert.Equal(("second", true), (replaced.Payload, replaced.Retain));

        // A retained message with an empty payload clears the topic [MQTT-3.3.1-10] and is still forwarded live.
        await PublishAsync(version, topic, "-r", "-q", "1", "-n");
        Assert.Empty(await RetainedOnSubscribeAsync(version, topic));

        // Three retained publishes and the three markers of the subscriptions above.
        var liveMessages = (await live.WaitForMessagesAsync(6, Wait)).Where(m => !m.Payload.StartsWith("marker", StringComparison.Ordinal)).ToArray();
        Assert.Equal(["first", "second", ""], liveMessages.Select(m => m.Payload));
        Assert.All(liveMessages, m => Assert.False(m.Retain));
    }

    [Theory]
    [InlineData("mqttv311")]
    [InlineData("mqttv5")]
    public async Task Will_ClientKilledWithSigkill_WillDelivered(string version)
    {
        var willTopic = TestIds.Topic("mosquitto/will");
        var victimId = TestIds.ClientId("mwill");
        await using var watcher = await ExternalClients.StartMosquittoSubAsync([.. Connect(version, "mwatch"), "-t", willTopic, "-q", "1"]);
        await using var victim = await ExternalClients.StartMosquittoSubAsync(
            "-h", BrokerFixture.Host, "-p", PublisherPort.ToString(CultureInfo.InvariantCulture), "-V", version, "-i", victimId, "-k", "60",
            "-t", TestIds.Topic("mosquitto/will-victim"),
            "--will-topic", willTopic, "--will-payload", $"{victimId} is gone", "--will-qos", "1");

        await victim.KillAsync();

        var will = Assert.Single(await watcher.WaitForMessagesAsync(1, Wait));
        Assert.Equal(willTopic, will.Topic);
        Assert.Equal($"{victimId} is gone", will.Payload);
        Assert.Equal(1, will.QualityOfService);
    }

    [Fact]
    public async Task Will_ClientDisconnectsNormally_WillNotDelivered()
    {
        var willTopic = TestIds.Topic("mosquitto/no-will");
        await using var watcher = await ExternalClients.StartMosquittoSubAsync([.. Connect("mqttv5", "mwatch"), "-t", willTopic, "-q", "1"]);

        // mosquitto_pub sends DISCONNECT (reason 0) after publishing: the will must be discarded [MQTT-3.1.2-10].
        (await ExternalClients.MosquittoPubAsync(
            [.. ConnectPublisher("mqttv5", "mpub"), "-t", TestIds.Topic("mosquitto/other"), "-m", "x", "--will-topic", willTopic, "--will-payload", "will"]))
            .EnsureSuccess();
        await PublishAsync("mqttv5", willTopic, "-q", "1", "-m", "marker");

        var received = await watcher.WaitForMessageAsync(m => m.Payload == "marker", Wait);
        Assert.Equal(["marker"], received.Select(m => m.Payload));
    }

    [Fact]
    public async Task UserProperties_Mqtt5_ForwardedInOrder()
    {
        var topic = TestIds.Topic("mosquitto/user-properties");
        await using var sub = await ExternalClients.StartMosquittoSubAsync([.. Connect("mqttv5", "msub"), "-t", topic, "-q", "1"]);

        (await ExternalClients.MosquittoPubAsync(
            [.. ConnectPublisher("mqttv5", "mpub"), "-t", topic, "-q", "1", "-m", "with properties",
             "-D", "publish", "user-property", "site", "north",
             "-D", "publish", "user-property", "unit", "celsius",
             "-D", "publish", "user-property", "site", "south"])).EnsureSuccess();

        var message = Assert.Single(await sub.WaitForMessagesAsync(1, Wait));
        Assert.Equal("with properties", message.Payload);

        // The server must keep the order of user properties, duplicates included [MQTT-3.3.2-18].
        Assert.Equal(["site:north", "unit:celsius", "site:south"], message.UserProperties);
    }

    [Fact]
    public async Task MessageExpiry_Mqtt5Retained_NotDeliveredOnSubscribeAfterExpiry()
    {
        var baseTopic = TestIds.Topic("mosquitto/expiry");
        var expiring = baseTopic + "/expiring";
        var control = baseTopic + "/control";
        await using var live = await ExternalClients.StartMosquittoSubAsync([.. Connect("mqttv5", "mlive"), "-t", expiring, "-q", "1"]);

        await PublishAsync("mqttv5", control, "-r", "-q", "1", "-m", "stays");
        await PublishAsync("mqttv5", expiring, "-r", "-q", "1", "-m", "expires", "-D", "publish", "message-expiry-interval", "1");

        // Forwarded with the expiry interval, less the time it waited in the server [MQTT-3.3.2-6].
        var forwarded = Assert.Single(await live.WaitForMessagesAsync(1, Wait));
        Assert.Equal("expires", forwarded.Payload);
        Assert.NotNull(forwarded.MessageExpiryInterval);
        Assert.InRange(forwarded.MessageExpiryInterval.Value, 0u, 1u);

        // Once expired, a new subscription no longer gets it, while the control message without expiry stays.
        var retained = await Eventually.WaitForAsync(
            async () => string.Join(",", (await RetainedOnSubscribeAsync("mqttv5", baseTopic + "/#")).Select(m => m.Payload).Order(StringComparer.Ordinal)),
            payloads => payloads == "stays",
            TimeSpan.FromSeconds(15),
            "the expired retained message disappears and the control message stays");
        Assert.Equal("stays", retained);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("1")]
    public async Task MosquittoSub_WildcardOverTwentyThousandRetained_ReceivesAllWithRetainFlag(string qos)
    {
        // Twenty times the session queue bound (MaxQueuedMessages 1000): retained messages on subscribe are paced, not dropped.
        const int Count = 20_000;
        var root = TestIds.Topic("mosquitto/retained-many");
        await SeedRetainedAsync(root, Count);

        var result = await ExternalClients.MosquittoSubAsync(
            [.. Connect("mqttv311", "mmany"), "-t", root + "/#", "-q", qos, "-C", "20000", "-W", "20", "-F", "%r %t"], TimeSpan.FromSeconds(30));

        result.EnsureSuccess();
        var lines = result.OutputLines;
        Assert.Equal(Count, lines.Count);
        Assert.All(lines, line => Assert.StartsWith("1 ", line, StringComparison.Ordinal));
        Assert.Equal(Count, lines.Distinct(StringComparer.Ordinal).Count());
    }

    /// <summary>Where subscribers (mosquitto_sub) connect.</summary>
    protected abstract int SubscriberPort { get; }

    /// <summary>Where publishers (mosquitto_pub) connect.</summary>
    protected abstract int PublisherPort { get; }

    /// <summary>Publishes <c>{root}/{i / 1000}/{i % 1000}</c> retained at QoS 1 for every i below <paramref name="count"/>.</summary>
    protected abstract Task SeedRetainedAsync(string root, int count);

    private string Port => SubscriberPort.ToString(CultureInfo.InvariantCulture);

    private string[] Connect(string version, string idPrefix) =>
        ["-h", BrokerFixture.Host, "-p", Port, "-V", version, "-i", TestIds.ClientId(idPrefix)];

    private string[] ConnectPublisher(string version, string idPrefix) =>
        ["-h", BrokerFixture.Host, "-p", PublisherPort.ToString(CultureInfo.InvariantCulture), "-V", version, "-i", TestIds.ClientId(idPrefix)];

    private async Task PublishAsync(string version, string topic, params string[] args) =>
        (await ExternalClients.MosquittoPubAsync([.. ConnectPublisher(version, "mpub"), "-t", topic, .. args])).EnsureSuccess();

    /// <summary>
    /// Subscribes anew and returns what arrives before a marker published after the SUBACK: the retained messages.
    /// The marker goes to the first concrete topic under the filter (a filter ending in <c>/#</c> gets <c>/marker</c>).
    /// </summary>
    private async Task<IReadOnlyList<MosquittoMessage>> RetainedOnSubscribeAsync(string version, string filter)
    {
        await using var sub = await ExternalClients.StartMosquittoSubAsync([.. Connect(version, "mnew"), "-t", filter, "-q", "1"]);
        var marker = $"marker-{Guid.NewGuid():N}";
        var markerTopic = filter.EndsWith("/#", StringComparison.Ordinal) ? filter[..^2] + "/marker" : filter;
        await PublishAsync(version, markerTopic, "-q", "1", "-m", marker);
        var received = await sub.WaitForMessageAsync(m => m.Payload == marker, Wait);
        return received.Take(received.Count - 1).ToArray();
    }
}
