using System.Globalization;
using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// Issue 17: a deny rule refuses only the filters inside it. A service denied <c>secret/#</c> may subscribe to <c>#</c>
/// (granted, and no message on <c>secret/...</c> reaches it: live, retained, shared or as a will), while
/// <c>secret/#</c> itself is refused. Each negative is proven by ordering: an anonymous watcher (allowed everything)
/// sees the denied message first, or the denied message is published before a marker on the same connection, so the
/// subscriber's first message after it must be the marker.
/// </summary>
[Trait("Category", "Integration")]
public sealed class DenyOverlapTests : IAsyncLifetime
{
    internal const string ServicePassword = "svc-secret-1";
    private BrokerFixture _broker = null!;

    /// <summary>The broker's arguments: a service identity, its deny rule, and the paho suite's refusing rule.</summary>
    internal static string[] Args { get; } =
    [
        "--Iot:Security:Identities:0:Id=svc", "--Iot:Security:Identities:0:Role=Service", $"--Iot:Security:Identities:0:Password={ServicePassword}",
        .. DenySecretRules,
    ];

    /// <summary>Deny services <c>secret/#</c> for reading, let them publish anywhere, and refuse <c>test/nosubscribe</c> to everyone.</summary>
    internal static string[] DenySecretRules =>
    [
        "--Iot:Security:Acl:Rules:0:Permission=deny", "--Iot:Security:Acl:Rules:0:Action=subscribe",
        "--Iot:Security:Acl:Rules:0:Role=service", "--Iot:Security:Acl:Rules:0:Topic=secret/#",
        "--Iot:Security:Acl:Rules:1:Permission=allow", "--Iot:Security:Acl:Rules:1:Action=publish",
        "--Iot:Security:Acl:Rules:1:Role=service", "--Iot:Security:Acl:Rules:1:Topic=#",
        "--Iot:Security:Acl:Rules:2:Permission=deny", "--Iot:Security:Acl:Rules:2:Action=subscribe",
        "--Iot:Security:Acl:Rules:2:Role=any", "--Iot:Security:Acl:Rules:2:Topic=test/nosubscribe",
    ];

    public async Task InitializeAsync() => _broker = await BrokerFixture.StartAsync(Args);

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task Hash_IsGranted_ReceivesOtherTopics_NeverTheDeniedOnes_LiveAndRetained()
    {
        await using var publisher = await Service("svc-pub");
        await publisher.PublishAsync("secret/r", "retained-secret", retain: true);
        await publisher.PublishAsync("a/r", "retained-open", retain: true);
        await using var watcher = await Anonymous("watcher");
        await watcher.SubscribeAsync("#");
        await watcher.ReceiveAsync();
        await watcher.ReceiveAsync();

        await using var subscriber = await Service("svc-sub");
        var granted = await subscriber.Client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter("#", MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTopicFilter("secret/#", MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTopicFilter("secret/x", MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTopicFilter("+/x", MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());
        Assert.Equal(
            [MqttClientSubscribeResultCode.GrantedQoS1, MqttClientSubscribeResultCode.NotAuthorized, MqttClientSubscribeResultCode.NotAuthorized, MqttClientSubscribeResultCode.GrantedQoS1],
            granted.Items.Select(i => i.ResultCode));

        // Both retained messages were handed to the connection at SUBSCRIBE; the open one arrives, the secret one never.
        var retained = await subscriber.ReceiveAsync();
        Assert.Equal(("a/r", true), (retained.Topic, retained.Retain));

        // Live: the denied message goes first on the publisher's connection, so the marker must be the next one here.
        await publisher.PublishAsync("secret/x", "live-secret");
        await publisher.PublishAsync("a/x", "marker");
        Assert.Equal("secret/x", (await watcher.ReceiveAsync()).Topic);
        Assert.Equal("a/x", (await subscriber.ReceiveAsync()).Topic);
        Assert.Null(await subscriber.TryReceiveAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task SharedSubscription_OnHash_DeniedTopicsAreNotDelivered()
    {
        await using var subscriber = await Service("svc-shared");
        var granted = await subscriber.Client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter("$share/g/#", MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTopicFilter("$share/g/secret/#", MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());
        Assert.Equal([MqttClientSubscribeResultCode.GrantedQoS1, MqttClientSubscribeResultCode.NotAuthorized], granted.Items.Select(i => i.ResultCode));

        await using var publisher = await Service("svc-pub");
        await publisher.PublishAsync("secret/y/z", "secret");
        await publisher.PublishAsync("b/c", "marker");
        Assert.Equal("b/c", (await subscriber.ReceiveAsync()).Topic);
    }

    [Fact]
    public async Task Will_OnADeniedTopic_NotDeliveredToHash()
    {
        var port = _broker.MqttPort.ToString(CultureInfo.InvariantCulture);
        await using var subscriber = await Service("svc-will-sub");
        await subscriber.SubscribeAsync("#");
        await using var watcher = await Anonymous("will-watcher");
        await watcher.SubscribeAsync("secret/will");
        var victim = await ExternalClients.StartMosquittoSubAsync(
            "-h", BrokerFixture.Host, "-p", port, "-i", "svc-victim", "-u", "svc", "-P", ServicePassword, "-V", "mqttv5",
            "-t", "a/victim", "--will-topic", "secret/will", "--will-payload", "gone", "--will-qos", "1");
        await using (victim)
        {
            await victim.KillAsync();
        }

        Assert.Equal("secret/will", (await watcher.ReceiveAsync()).Topic);
        await using var publisher = await Service("svc-pub");
        await publisher.PublishAsync("a/after-will", "marker");
        Assert.Equal("a/after-will", (await subscriber.ReceiveAsync()).Topic);
    }

    [Fact]
    public async Task MosquittoSub311_InsideDenyGets0x80_HashGrantedAndFiltered()
    {
        var port = _broker.MqttPort.ToString(CultureInfo.InvariantCulture);
        await using var subscriber = await ExternalClients.StartMosquittoSubAsync(
            "-h", BrokerFixture.Host, "-p", port, "-i", "svc-msub", "-u", "svc", "-P", ServicePassword, "-V", "mqttv311",
            "-q", "1", "-t", "secret/#", "-t", "#");
        Assert.Equal([0x80, 1], subscriber.GrantedQos);

        await using var publisher = await Service("svc-pub");
        await publisher.PublishAsync("secret/m", "secret");
        await publisher.PublishAsync("a/m", "marker");
        var messages = await subscriber.WaitForMessagesAsync(1, TimeSpan.FromSeconds(15));
        Assert.Equal("a/m", messages[0].Topic);
    }

    [Fact]
    public async Task PahoRefusingRule_TestNoSubscribeRefused_CleanupHashGranted()
    {
        await using var client = await Anonymous("paho-like", MqttProtocolVersion.V311);
        var result = await client.Client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter("test/nosubscribe", MqttQualityOfServiceLevel.AtMostOnce)
            .WithTopicFilter("#", MqttQualityOfServiceLevel.AtMostOnce)
            .Build());
        Assert.Equal([MqttClientSubscribeResultCode.UnspecifiedError, MqttClientSubscribeResultCode.GrantedQoS0], result.Items.Select(i => i.ResultCode));

        await client.PublishAsync("test/nosubscribe", "x", MqttQualityOfServiceLevel.AtLeastOnce);
        await client.PublishAsync("test/other", "marker", MqttQualityOfServiceLevel.AtLeastOnce);
        Assert.Equal("test/other", (await client.ReceiveAsync()).Topic);
    }

    private Task<TestClient> Service(string clientId) =>
        TestClient.ConnectAsync(_broker, clientId, o => o.WithCredentials("svc", ServicePassword));

    private Task<TestClient> Anonymous(string clientId, MqttProtocolVersion version = MqttProtocolVersion.V500) =>
        TestClient.ConnectAsync(_broker, clientId, version: version);
}
