using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// Issue 17: a persistent session's subscription to <c>#</c>, stored before a deny rule for <c>secret/#</c> existed, is
/// restored after a restart that adds the rule. What was queued for it on <c>secret/...</c> (before and after the
/// restart) is dropped when it resumes, and from then on the subscription is checked at delivery.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class DenyOverlapRestartTests(ITestOutputHelper output) : IAsyncLifetime, IDisposable
{
    private const string ServicePassword = "svc-secret-1";
    private readonly TempDirectory _dataDir = new("iot-deny-overlap");
    private readonly string _subscriberId = TestIds.ClientId("dsub");
    private BrokerProcess? _broker;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_broker is not null)
        {
            output.WriteLine(_broker.Output);
            await _broker.DisposeAsync();
        }
    }

    public void Dispose() => _dataDir.Dispose();

    [Fact]
    public async Task PersistentHash_RuleAddedAcrossRestart_QueuedAndLiveDeniedTopicsNeverDelivered()
    {
        // 1. Without the deny rule: a persistent session subscribes to '#' and goes away; two messages queue for it.
        _broker = await BrokerProcess.StartAsync(_dataDir.Path, Args(withDenyRule: false));
        using (var subscriber = await ConnectAsync(_subscriberId))
        {
            var granted = await subscriber.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("#", MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.Equal(MqttClientSubscribeResultCode.GrantedQoS1, Assert.Single(granted.Items).ResultCode);
            await subscriber.DisconnectAsync();
        }

        await PublishAsync(("secret/before", "s1"), ("a/before", "m1"));

        // 2. kill -9, then the broker again with the deny rule; two more messages while the subscriber is still offline.
        await _broker.KillAsync();
        output.WriteLine("First run:\n" + _broker.Output);
        await _broker.DisposeAsync();
        _broker = await BrokerProcess.StartAsync(_dataDir.Path, Args(withDenyRule: true));
        await PublishAsync(("secret/offline", "s2"), ("a/offline", "m2"));

        // 3. The session resumes: the open messages arrive in order, the secret ones were dropped; live ones are filtered.
        var received = new List<MqttApplicationMessage>();
        var marker = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var resumed = new MqttClientFactory().CreateMqttClient();
        resumed.ApplicationMessageReceivedAsync += e =>
        {
            lock (received)
            {
                received.Add(e.ApplicationMessage);
            }

            if (e.ApplicationMessage.Topic == "a/live")
            {
                marker.TrySetResult();
            }

            return Task.CompletedTask;
        };
        var connected = await resumed.ConnectAsync(Options(_subscriberId));
        Assert.True(connected.IsSessionPresent);
        await PublishAsync(("secret/live", "s3"), ("a/live", "m3"));
        await marker.Task.WaitAsync(TimeSpan.FromSeconds(15));

        lock (received)
        {
            Assert.Equal(["a/before", "a/offline", "a/live"], received.Select(m => m.Topic));
        }

        await resumed.DisconnectAsync();
    }

    private static string[] Args(bool withDenyRule) =>
    [
        "--Iot:Security:AllowAnonymous=false",
        "--Iot:Security:Identities:0:Id=svc", "--Iot:Security:Identities:0:Role=Service", $"--Iot:Security:Identities:0:Password={ServicePassword}",
        .. withDenyRule
            ? DenyOverlapTests.DenySecretRules
            : ["--Iot:Security:Acl:Rules:0:Permission=allow", "--Iot:Security:Acl:Rules:0:Action=publish",
               "--Iot:Security:Acl:Rules:0:Role=service", "--Iot:Security:Acl:Rules:0:Topic=#"],
    ];

    private async Task PublishAsync(params (string Topic, string Payload)[] messages)
    {
        using var publisher = new MqttClientFactory().CreateMqttClient();
        await publisher.ConnectAsync(Options(TestIds.ClientId("dpub"), sessionExpiry: 0));
        foreach (var (topic, payload) in messages)
        {
            var result = await publisher.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic(topic).WithPayload(payload).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.True(result.IsSuccess, $"{topic}: {result.ReasonCode}");
        }

        await publisher.DisconnectAsync();
    }

    private async Task<IMqttClient> ConnectAsync(string clientId)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(Options(clientId));
        return client;
    }

    private MqttClientOptions Options(string clientId, uint sessionExpiry = 3600) =>
        new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, _broker!.MqttPort)
            .WithClientId(clientId)
            .WithCredentials("svc", ServicePassword)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart(false)
            .WithSessionExpiryInterval(sessionExpiry)
            .WithTimeout(TimeSpan.FromSeconds(15))
            .Build();
}
