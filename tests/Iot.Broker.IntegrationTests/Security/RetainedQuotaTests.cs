using Iot.Broker.IntegrationTests.Protocol;
using System.Text;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Packets;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// Issue 16, finding 6: one identity could fill the broker's memory with retained messages. Retained messages are now
/// charged to the identity that published them last, per identity (count and bytes) and in total.
/// </summary>
[Trait("Category", "Integration")]
public sealed class RetainedQuotaTests(ITestOutputHelper output)
{
    private const string Password = "pw-123456";

    [Fact]
    public async Task Mqtt5Device_OverItsRetainedCount_GetsQuotaExceeded_AndTheMessageIsNeitherRetainedNorDelivered()
    {
        var device = "rqd-" + Guid.NewGuid().ToString("N")[..8];
        var service = "rqs-" + Guid.NewGuid().ToString("N")[..8];
        await using var broker = await BrokerFixture.StartAsync(
            [.. Identities(device, service), "--Iot:Mqtt:MaxRetainedMessagesPerIdentity=3"]);
        await using var watcher = await TestClient.ConnectAsync(broker, Ids.Client("watch"), o => o.WithCredentials(service, Password));
        await watcher.SubscribeAsync($"devices/{device}/#");
        await using var client = await TestClient.ConnectAsync(broker, device, o => o.WithCredentials(device, Password));
        Assert.Equal(MqttClientConnectResultCode.Success, client.ConnectResult!.ResultCode);

        for (var i = 0; i < 3; i++)
        {
            var stored = await client.PublishAsync($"devices/{device}/state/{i}", "v" + i, retain: true);
            Assert.Equal(MqttClientPublishReasonCode.Success, stored.ReasonCode);
        }

        var refused = await client.PublishAsync($"devices/{device}/state/3", "refused", retain: true);
        Assert.Equal(MqttClientPublishReasonCode.QuotaExceeded, refused.ReasonCode);

        // Replacing one of its own topics does not grow the count; clearing one frees a place.
        Assert.Equal(MqttClientPublishReasonCode.Success, (await client.PublishAsync($"devices/{device}/state/0", "v0b", retain: true)).ReasonCode);
        Assert.Equal(MqttClientPublishReasonCode.Success, (await client.PublishAsync($"devices/{device}/state/1", "", retain: true)).ReasonCode);
        Assert.Equal(MqttClientPublishReasonCode.Success, (await client.PublishAsync($"devices/{device}/state/3", "v3", retain: true)).ReasonCode);

        // The live subscriber got every accepted message and none of the refused ones.
        var live = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            var message = await watcher.ReceiveAsync();
            live.Add($"{message.Topic}={message.ConvertPayloadToString()}");
        }

        Assert.DoesNotContain(live, l => l.EndsWith("=refused", StringComparison.Ordinal));
        Assert.Equal($"devices/{device}/state/3=v3", live[^1]);

        Assert.Equal(
            [$"devices/{device}/state/0=v0b", $"devices/{device}/state/2=v2", $"devices/{device}/state/3=v3"],
            await RetainedAsync(broker.MqttPort, service, $"devices/{device}/#", 3));

        // QoS 2 (a raw client, which takes the session over: MQTTnet reports a failed PUBREC as UnspecifiedError): PUBREC
        // 0x97 ends the flow.
        var (raw, connack) = await RawMqttClient.ConnectAsync(broker.MqttPort, new MqttConnectPacket
        {
            ClientId = device, CleanSession = true, KeepAlivePeriod = 30, Username = device, Password = Encoding.UTF8.GetBytes(Password),
        });
        await using (raw)
        {
            Assert.Equal(MqttConnectReasonCode.Success, connack.ReasonCode);
            await raw.SendAsync(new MqttPublishPacket
            {
                Topic = $"devices/{device}/state/4", Payload = new(Encoding.UTF8.GetBytes("refused")),
                QualityOfServiceLevel = MqttQualityOfServiceLevel.ExactlyOnce, Retain = true, PacketIdentifier = 7,
            });
            var pubrec = await raw.ReceiveAsync<MqttPubRecPacket>(TimeSpan.FromSeconds(10));
            Assert.Equal(MqttPubRecReasonCode.QuotaExceeded, pubrec?.ReasonCode);
        }

        var metrics = await MetricsAsync(broker.HttpBaseUri);
        Assert.Contains("iot_mqtt_limit_hits_total{limit=\"retained_per_identity\"} 2", metrics, StringComparison.Ordinal);
        Assert.Contains("iot_mqtt_retained_owned_messages 3", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Mqtt311Device_OverItsRetainedBytes_IsDeliveredButNotRetained()
    {
        var device = "rqb-" + Guid.NewGuid().ToString("N")[..8];
        var service = "rqs-" + Guid.NewGuid().ToString("N")[..8];
        await using var broker = await BrokerFixture.StartAsync(
            [.. Identities(device, service), "--Iot:Mqtt:MaxRetainedBytesPerIdentity=1000"]);
        var topic = $"devices/{device}/config";
        await using var watcher = await ExternalClients.StartMosquittoSubAsync(
            "-h", BrokerFixture.Host, "-p", broker.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-V", "mqttv311", "-u", service, "-P", Password, "-q", "1", "-t", $"devices/{device}/#");

        var payload = new string('x', 600);
        foreach (var (suffix, body) in new[] { ("a", payload), ("b", payload) })
        {
            (await ExternalClients.MosquittoPubAsync(
                "-h", BrokerFixture.Host, "-p", broker.MqttPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "-V", "mqttv311", "-i", device, "-u", device, "-P", Password, "-q", "1", "-r", "-t", topic + suffix, "-m", body)).EnsureSuccess();
        }

        // MQTT 3.1.1 cannot say no: both reach the live subscriber, only the first is retained.
        var live = await watcher.WaitForMessagesAsync(2, TimeSpan.FromSeconds(10));
        Assert.Equal([topic + "a", topic + "b"], live.Select(m => m.Topic));
        Assert.Equal([topic + "a=" + payload], await RetainedAsync(broker.MqttPort, service, $"devices/{device}/#", 1));
        Assert.Contains("iot_mqtt_limit_hits_total{limit=\"retained_per_identity\"} 1", await MetricsAsync(broker.HttpBaseUri), StringComparison.Ordinal);
    }

    [Fact]
    [Trait("Category", "Slow")]
    public async Task RetainedCount_SurvivesAKill9_TheQuotaStillHoldsAfterRestart()
    {
        using var dataDir = new TempDirectory("iot-retained-quota");
        var device = "rqk-" + Guid.NewGuid().ToString("N")[..8];
        var service = "rqs-" + Guid.NewGuid().ToString("N")[..8];
        string[] args = [.. Identities(device, service), "--Iot:Mqtt:MaxRetainedMessagesPerIdentity=2"];
        var broker = await BrokerProcess.StartAsync(dataDir.Path, args);
        try
        {
            using (var client = await ConnectDeviceAsync(broker.MqttPort, device))
            {
                Assert.True((await PublishRetainedAsync(client, $"devices/{device}/s/0", "a")).IsSuccess);
                Assert.True((await PublishRetainedAsync(client, $"devices/{device}/s/1", "b")).IsSuccess);
            }

            await broker.KillAsync();
            output.WriteLine("First run:\n" + broker.Output);
            await broker.DisposeAsync();
            broker = await BrokerProcess.StartAsync(dataDir.Path, args);

            using var again = await ConnectDeviceAsync(broker.MqttPort, device);
            Assert.Equal(MqttClientPublishReasonCode.QuotaExceeded, (await PublishRetainedAsync(again, $"devices/{device}/s/2", "c")).ReasonCode);
            Assert.True((await PublishRetainedAsync(again, $"devices/{device}/s/0", "")).IsSuccess);
            Assert.True((await PublishRetainedAsync(again, $"devices/{device}/s/2", "c")).IsSuccess);
            Assert.Equal(
                [$"devices/{device}/s/1=b", $"devices/{device}/s/2=c"],
                await RetainedAsync(broker.MqttPort, service, $"devices/{device}/#", 2));
            Assert.Contains("iot_mqtt_retained_owned_messages 2", await MetricsAsync(new Uri($"http://127.0.0.1:{broker.HttpPort}/")), StringComparison.Ordinal);
        }
        finally
        {
            output.WriteLine("Last run:\n" + broker.Output);
            await broker.DisposeAsync();
        }
    }

    private static string[] Identities(string device, string service) =>
    [
        "--Iot:Security:PasswordIterations=1000",
        $"--Iot:Security:Identities:0:Id={device}", "--Iot:Security:Identities:0:Role=Device", $"--Iot:Security:Identities:0:Password={Password}",
        $"--Iot:Security:Identities:1:Id={service}", "--Iot:Security:Identities:1:Role=Service", $"--Iot:Security:Identities:1:Password={Password}",
    ];

    private static async Task<IMqttClient> ConnectDeviceAsync(int port, string device)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        var result = await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, port).WithClientId(device).WithCredentials(device, Password)
            .WithProtocolVersion(MqttProtocolVersion.V500).WithTimeout(TimeSpan.FromSeconds(10)).Build());
        Assert.Equal(MqttClientConnectResultCode.Success, result.ResultCode);
        return client;
    }

    private static Task<MqttClientPublishResult> PublishRetainedAsync(IMqttClient client, string topic, string payload) =>
        client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload(payload)
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).WithRetainFlag().Build());

    /// <summary>The retained messages a new subscription to <paramref name="filter"/> gets, as sorted <c>topic=payload</c>;
    /// waits for <paramref name="expected"/> of them, then for a marker published after the SUBSCRIBE, so that no
    /// further retained message can still be on its way.</summary>
    private static async Task<string[]> RetainedAsync(int port, string service, string filter, int expected)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var received = new List<string>();
        // A topic a service may publish to (services send commands) and that no retained filter here covers.
        var marker = $"devices/marker-{Guid.NewGuid():N}/commands/m";
        var markerSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.ApplicationMessageReceivedAsync += e =>
        {
            if (e.ApplicationMessage.Topic == marker)
            {
                markerSeen.TrySetResult();
            }
            else if (e.ApplicationMessage.Retain)
            {
                lock (received)
                {
                    received.Add($"{e.ApplicationMessage.Topic}={e.ApplicationMessage.ConvertPayloadToString()}");
                }
            }

            return Task.CompletedTask;
        };
        await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, port).WithClientId("rq-read-" + Guid.NewGuid().ToString("N")[..8]).WithCredentials(service, Password)
            .WithProtocolVersion(MqttProtocolVersion.V500).WithTimeout(TimeSpan.FromSeconds(10)).Build());
        await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(filter).Build());
        await Eventually.WaitUntilAsync(() => { lock (received) { return received.Count >= expected; } }, TimeSpan.FromSeconds(10), "retained messages on subscribe");

        // The retained messages of one SUBSCRIBE are sent before anything published after it on a covered topic.
        await client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter(marker).Build());
        await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(marker).WithPayload("m").Build());
        await markerSeen.Task.WaitAsync(TimeSpan.FromSeconds(10));
        lock (received)
        {
            return [.. received.Order(StringComparer.Ordinal)];
        }
    }

    private static async Task<string> MetricsAsync(Uri baseUri)
    {
        using var http = new HttpClient { BaseAddress = baseUri };
        return await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
    }
}
