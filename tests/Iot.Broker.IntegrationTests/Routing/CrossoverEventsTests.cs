using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Routing;

/// <summary>
/// A broker whose crossover checks run often and whose thresholds are low, with the InfluxDB sink pointed at a port
/// nothing listens on (every write fails: connection refused).
/// </summary>
public sealed class CrossoverBrokerFixture() : BrokerFixture(
[
    "--Iot:Routing:WebhookAllowPrivateNetworks=true",
    "--Iot:Crossover:CheckInterval=00:00:00.200",
    "--Iot:Crossover:NoReceiverThreshold=00:00:01",
    "--Iot:Crossover:StreamLagThreshold=3",
    "--Iot:Crossover:SinkFailureThreshold=00:00:00",
    "--Iot:Commands:AnswerTimeout=00:00:01",
    "--Iot:Commands:MaxDeliveryCount=1",
    "--Iot:Influx:Enabled=true",
    $"--Iot:Influx:Url=http://127.0.0.1:{FreePorts.One()}",
    "--Iot:Influx:FlushInterval=00:00:00.050",
    "--Iot:Influx:MinRetryDelay=00:00:00.200",
    "--Iot:Influx:MaxRetryDelay=00:00:01",
]);

/// <summary>The broker the crossover tests share.</summary>
[CollectionDefinition(Name)]
public sealed class CrossoverCollectionDefinition : ICollectionFixture<CrossoverBrokerFixture>
{
    public const string Name = "crossover events";
}

/// <summary>
/// Issue 21's crossover events end to end: real MQTT clients (MQTTnet), queue and command activity over the HTTP API, a
/// stream consumer group and a failing InfluxDB sink each raise their event, which a webhook subscription filtered
/// on the event type receives as a CloudEvent.
/// </summary>
[Collection(CrossoverCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class CrossoverEventsTests(CrossoverBrokerFixture broker)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task DeviceConnectsAndDisconnects_WebhookGetsConnectedAndDisconnectedWithTheReason()
    {
        var deviceId = TestIds.ClientId("dev");
        await using var sink = await WebhookSink.StartAsync();
        await using var takenOver = await WebhookSink.StartAsync();
        using var http = Http();
        await SubscribeAsync(http, TestIds.ClientId("sub"), new
        {
            topicFilter = "$iot/devices/" + deviceId,
            includedEventTypes = new[] { "Iot.Device.Connected", "Iot.Device.Disconnected" },
        }, sink);
        await SubscribeAsync(http, TestIds.ClientId("sub"), new
        {
            topicFilter = "$iot/devices/+",
            includedEventTypes = new[] { "Iot.Device.Disconnected" },
            conditions = new object[]
            {
                new { operatorType = "StringIn", key = "data.reason", values = new[] { "SessionTakenOver" } },
                new { operatorType = "StringIn", key = "data.clientId", values = new[] { deviceId } },
            },
        }, takenOver);

        using (var client = new MqttClientFactory().CreateMqttClient())
        {
            await client.ConnectAsync(broker.CreateMqttClientOptions(deviceId));
            await client.DisconnectAsync();
        }

        await Eventually.WaitUntilAsync(() => sink.Events.Count >= 2, Deadline, "connected and disconnected");
        var events = sink.Events.ToArray();
        Assert.Equal(["Iot.Device.Connected", "Iot.Device.Disconnected"], events.Select(e => e.GetProperty("type").GetString()));
        Assert.All(events, e => Assert.Equal("$iot/devices/" + deviceId, e.GetProperty("subject").GetString()));
        Assert.All(events, e => Assert.Equal("/iot/mqtt", e.GetProperty("source").GetString()));
        Assert.Equal(("anonymous", "5.0"), (events[0].GetProperty("data").GetProperty("role").GetString(),
            events[0].GetProperty("data").GetProperty("protocolVersion").GetString()));
        Assert.Equal("ClientDisconnect", events[1].GetProperty("data").GetProperty("reason").GetString());

        // A second connection with the same client id takes the session over: the first one's end says so.
        using var first = new MqttClientFactory().CreateMqttClient();
        using var second = new MqttClientFactory().CreateMqttClient();
        await first.ConnectAsync(broker.CreateMqttClientOptions(deviceId));
        await second.ConnectAsync(broker.CreateMqttClientOptions(deviceId));
        await Eventually.WaitUntilAsync(() => !takenOver.Events.IsEmpty, Deadline, "the takeover's disconnected event");
        var takeover = Assert.Single(takenOver.Events);
        Assert.Equal("SessionTakenOver", takeover.GetProperty("data").GetProperty("reason").GetString());
        Assert.Equal((int)MqttDisconnectReasonCode.SessionTakenOver, takeover.GetProperty("data").GetProperty("mqttReasonCode").GetInt32());
        await second.DisconnectAsync();
    }

    [Fact]
    public async Task QueueMessageNotReceived_ThenDeadLettered_WebhooksGetNoReceiverAndDeadLetterEvents()
    {
        var queue = TestIds.ClientId("q");
        await using var noReceiver = await WebhookSink.StartAsync();
        await using var deadLetters = await WebhookSink.StartAsync();
        using var http = Http();
        await SubscribeAsync(http, TestIds.ClientId("sub"), new
        {
            topicFilter = "$iot/queues/" + queue,
            includedEventTypes = new[] { "Iot.Queue.ActiveMessagesWithNoReceiver" },
        }, noReceiver);
        await SubscribeAsync(http, TestIds.ClientId("sub"), new
        {
            topicFilter = "$iot/queues/#",
            includedEventTypes = new[] { "Iot.Queue.DeadLetterMessagesAvailable" },
            conditions = new object[] { new { operatorType = "StringIn", key = "data.queue", values = new[] { queue } } },
        }, deadLetters);
        await EnsureSuccessAsync(await http.PutAsJsonAsync(new Uri($"api/queues/{queue}", UriKind.Relative), new { maxDeliveryCount = 5 }));
        await EnsureSuccessAsync(await http.PostAsync(new Uri($"api/queues/{queue}/messages", UriKind.Relative),
            new StringContent("{\"order\":1}", Encoding.UTF8, "application/json")));

        await Eventually.WaitUntilAsync(() => !noReceiver.Events.IsEmpty, Deadline, "active messages with no receiver");
        var waiting = noReceiver.Events.First();
        Assert.Equal("/iot/queues", waiting.GetProperty("source").GetString());
        Assert.Equal(queue, waiting.GetProperty("data").GetProperty("queue").GetString());
        Assert.Equal(1, waiting.GetProperty("data").GetProperty("activeMessageCount").GetInt64());
        Assert.True(waiting.GetProperty("data").GetProperty("oldestMessageAgeSeconds").GetDouble() >= 1);

        // A receiver dead-letters it.
        using var received = await http.PostAsync(new Uri($"api/queues/{queue}/messages:receive", UriKind.Relative), null);
        var lockToken = (await received.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("value")[0].GetProperty("lockToken").GetString();
        await EnsureSuccessAsync(await http.PostAsJsonAsync(new Uri($"api/queues/{queue}/messages:deadLetter", UriKind.Relative),
            new { lockTokens = new[] { lockToken }, deadLetterReason = "BadOrder" }));
        await Eventually.WaitUntilAsync(() => !deadLetters.Events.IsEmpty, Deadline, "dead-letter messages available");
        var dead = Assert.Single(deadLetters.Events);
        Assert.Equal(("Iot.Queue.DeadLetterMessagesAvailable", "$iot/queues/" + queue), (dead.GetProperty("type").GetString(), dead.GetProperty("subject").GetString()));
        Assert.Equal(1, dead.GetProperty("data").GetProperty("deadLetterMessageCount").GetInt64());


        // The publisher's counters are in /metrics.
        var metrics = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
        Assert.Contains("iot_crossover_events_raised_total ", metrics, StringComparison.Ordinal);
        Assert.Contains("iot_crossover_events_dropped_total 0", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CommandNotAnswered_DeadLettered_WebhookGetsTheEventWithTheReason()
    {
        var deviceId = TestIds.ClientId("dev");
        await using var sink = await WebhookSink.StartAsync();
        using var http = Http();
        await SubscribeAsync(http, TestIds.ClientId("sub"), new
        {
            topicFilter = $"$iot/devices/{deviceId}/commands/+",
            includedEventTypes = new[] { "Iot.Command.DeadLettered" },
        }, sink);

        // A real device that takes the command and never answers (MaxDeliveryCount=1, AnswerTimeout=1 s).
        using var device = new MqttClientFactory().CreateMqttClient();
        var delivered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        device.ApplicationMessageReceivedAsync += _ =>
        {
            delivered.TrySetResult();
            return Task.CompletedTask;
        };
        await device.ConnectAsync(broker.CreateMqttClientOptions(deviceId));
        await device.SubscribeAsync($"devices/{deviceId}/commands/#", MqttQualityOfServiceLevel.AtLeastOnce);
        using var sent = await http.PostAsync(new Uri($"api/devices/{deviceId}/commands/reboot", UriKind.Relative),
            new StringContent("{\"delay\":5}", Encoding.UTF8, "application/json"));
        var body = await sent.Content.ReadAsStringAsync();
        Assert.True(sent.IsSuccessStatusCode, body);
        var commandId = JsonDocument.Parse(body).RootElement.GetProperty("commandId").GetString();
        await delivered.Task.WaitAsync(Deadline);

        await Eventually.WaitUntilAsync(() => !sink.Events.IsEmpty, Deadline, "command dead-lettered");
        var raised = Assert.Single(sink.Events);
        Assert.Equal($"$iot/devices/{deviceId}/commands/{commandId}", raised.GetProperty("subject").GetString());
        var data = raised.GetProperty("data");
        Assert.Equal((commandId, deviceId, "reboot", "MaxDeliveryCountExceeded"), (data.GetProperty("commandId").GetString(),
            data.GetProperty("deviceId").GetString(), data.GetProperty("name").GetString(), data.GetProperty("reason").GetString()));
        await device.DisconnectAsync();
    }

    [Fact]
    public async Task ConsumerGroupLags_AndInfluxSinkFails_WebhooksGetLagAndSinkEvents()
    {
        var deviceId = TestIds.ClientId("dev");
        var group = TestIds.ClientId("g");
        await using var lag = await WebhookSink.StartAsync();
        await using var failing = await WebhookSink.StartAsync();
        using var http = Http();
        await SubscribeAsync(http, TestIds.ClientId("sub"), new
        {
            topicFilter = $"$iot/streams/telemetry/groups/{group}",
            includedEventTypes = new[] { "Iot.Stream.ConsumerLagExceeded" },
        }, lag);
        await SubscribeAsync(http, TestIds.ClientId("sub"), new
        {
            topicFilter = "$iot/sinks/#",
            includedEventTypes = new[] { "Iot.Sink.Failing" },
        }, failing);

        using (var client = new MqttClientFactory().CreateMqttClient())
        {
            await client.ConnectAsync(broker.CreateMqttClientOptions(deviceId));
            for (int i = 0; i < 3; i++)
            {
                var result = await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{deviceId}/telemetry")
                    .WithPayload($"{{\"temperature\":{20 + i}}}").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                Assert.True(result.IsSuccess, result.ReasonCode.ToString());
            }

            await client.DisconnectAsync();
        }

        // A new group with nothing committed is at least these three records behind (StreamLagThreshold=3).
        await EnsureSuccessAsync(await http.PutAsync(new Uri($"api/streams/telemetry/groups/{group}", UriKind.Relative), null));
        await Eventually.WaitUntilAsync(() => !lag.Events.IsEmpty, Deadline, "consumer group lag");
        var behind = lag.Events.First();
        Assert.Equal(("/iot/streams", "telemetry", group), (behind.GetProperty("source").GetString(),
            behind.GetProperty("data").GetProperty("stream").GetString(), behind.GetProperty("data").GetProperty("group").GetString()));
        Assert.True(behind.GetProperty("data").GetProperty("lag").GetInt64() >= 3);

        await Eventually.WaitUntilAsync(() => !failing.Events.IsEmpty, Deadline, "the InfluxDB sink failing");
        var sinkEvent = failing.Events.First();
        Assert.Equal(("/iot/sinks/influx", "$iot/sinks/influx/telemetry"), (sinkEvent.GetProperty("source").GetString(), sinkEvent.GetProperty("subject").GetString()));
        Assert.False(string.IsNullOrEmpty(sinkEvent.GetProperty("data").GetProperty("lastError").GetString()));
    }

    [Fact]
    public async Task WebhookDeliveriesDeadLettered_OtherSubscriptionGetsTheEvent_NoLoop()
    {
        var deviceId = TestIds.ClientId("dev");
        await using var down = await WebhookSink.StartAsync();
        await down.StopAsync();
        await using var ops = await WebhookSink.StartAsync();
        using var http = Http();
        var failingName = TestIds.ClientId("sub");
        await SubscribeAsync(http, failingName, new { topicFilter = $"devices/{deviceId}/events/#" }, down, maxDeliveryAttempts: 1);
        await SubscribeAsync(http, TestIds.ClientId("sub"), new
        {
            topicFilter = "$iot/subscriptions/" + failingName,
            includedEventTypes = new[] { "Iot.Subscription.DeliveriesDeadLettered" },
        }, ops);

        using (var client = new MqttClientFactory().CreateMqttClient())
        {
            await client.ConnectAsync(broker.CreateMqttClientOptions(deviceId));
            await client.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{deviceId}/events/alarm")
                .WithPayload("{\"level\":3}").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            await client.DisconnectAsync();
        }

        await Eventually.WaitUntilAsync(() => !ops.Events.IsEmpty, Deadline, "deliveries dead-lettered");
        var raised = Assert.Single(ops.Events);
        Assert.Equal((failingName, 1), (raised.GetProperty("data").GetProperty("subscription").GetString(),
            raised.GetProperty("data").GetProperty("eventCount").GetInt32()));
    }

    private HttpClient Http() => new() { BaseAddress = broker.HttpBaseUri };

    private static async Task SubscribeAsync(HttpClient http, string name, object filter, WebhookSink sink, int maxDeliveryAttempts = 30)
    {
        using var response = await http.PutAsJsonAsync(new Uri($"api/subscriptions/{name}", UriKind.Relative), new
        {
            filter,
            destination = new { kind = "webhook", endpointUrl = sink.Url.ToString() },
            retryPolicy = new { maxDeliveryAttempts },
        });
        Assert.True(response.IsSuccessStatusCode, $"PUT {name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
    }

    private static async Task EnsureSuccessAsync(HttpResponseMessage response)
    {
        using (response)
        {
            Assert.True(response.IsSuccessStatusCode, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }
}
