using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using Microsoft.Data.Sqlite;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Commands;

/// <summary>
/// Issue 16, finding 17: a command is accepted (HTTP 202, MQTT PUBACK) only once its record and its queue message are
/// both durable. The broker is killed (SIGKILL, from the test-only <c>Iot:Testing:CrashAt</c> point) between each pair of
/// writes; after the restart the client retries with the same message id, and a device must receive every command that
/// was acknowledged, before or after the crash.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class CommandAcceptanceCrashTests(ITestOutputHelper output)
{
    private const int Commands = 3;
    private static readonly string[] Args = ["--Iot:Commands:AnswerTimeout=00:00:05"];

    public static TheoryData<string> Points => new()
    {
        "command-message-written",
        "command-record-written",
        "command-committed",
    };

    [Theory]
    [MemberData(nameof(Points))]
    public async Task KilledBetweenWrites_HttpClientRetries_EveryAcknowledgedCommandIsDelivered(string point)
    {
        using var dataDir = new TempDirectory("iot-cmd-accept");
        var deviceId = TestIds.ClientId("acc");

        // The third command's write kills the broker; the first two were acknowledged.
        await using (var crashing = await BrokerProcess.StartAsync(dataDir.Path, [.. Args, $"--Iot:Testing:CrashAt={point}:{Commands}"]))
        {
            using var http = Http(crashing);
            for (int i = 0; i < Commands - 1; i++)
            {
                Assert.Equal(System.Net.HttpStatusCode.Accepted, (await PostAsync(http, deviceId, i)).Status);
            }

            await Assert.ThrowsAnyAsync<HttpRequestException>(() => PostAsync(http, deviceId, Commands - 1));
            await WaitForCrashAsync(crashing, point);
        }

        await using var broker = await BrokerProcess.StartAsync(dataDir.Path, Args);
        try
        {
            using var http = Http(broker);
            var ids = new string[Commands];
            for (int i = 0; i < Commands; i++)
            {
                // The client retries what it saw no answer for, and (harmlessly) what it did.
                var (status, commandId) = await PostAsync(http, deviceId, i);
                Assert.Equal(System.Net.HttpStatusCode.Accepted, status);
                ids[i] = commandId;
            }

            await using var device = await AnsweringDevice.ConnectAsync(broker.MqttPort, deviceId);
            await Eventually.WaitUntilAsync(() => device.Payloads.Count == Commands, TimeSpan.FromSeconds(30),
                $"the device receives all {Commands} commands");
            Assert.Equal(Enumerable.Range(0, Commands).Select(i => $$"""{"i":{{i}}}"""), device.Payloads.Keys.Order(StringComparer.Ordinal));
            foreach (var id in ids)
            {
                await WaitForStatusAsync(http, id, "Completed");
            }
        }
        finally
        {
            output.WriteLine(broker.Output);
        }
    }

    [Theory]
    [MemberData(nameof(Points))]
    public async Task KilledBetweenWrites_MqttServiceResends_EveryPubackedCommandIsDelivered(string point)
    {
        using var dataDir = new TempDirectory("iot-cmd-accept");
        var deviceId = TestIds.ClientId("accm");
        var commandIds = Enumerable.Range(0, Commands).Select(i => $"c{i}-{Guid.NewGuid():N}"[..16]).ToArray();

        await using (var crashing = await BrokerProcess.StartAsync(dataDir.Path, [.. Args, $"--Iot:Testing:CrashAt={point}:{Commands}"]))
        {
            using var service = await ConnectAsync(crashing.MqttPort, TestIds.ClientId("svc"));
            for (int i = 0; i < Commands - 1; i++)
            {
                Assert.True((await PublishCommandAsync(service, deviceId, commandIds[i], i)).IsSuccess);
            }

            // The broker dies before it answers the third PUBLISH: no PUBACK.
            await Assert.ThrowsAnyAsync<Exception>(() => PublishCommandAsync(service, deviceId, commandIds[^1], Commands - 1));
            await WaitForCrashAsync(crashing, point);
        }

        await using var broker = await BrokerProcess.StartAsync(dataDir.Path, Args);
        try
        {
            using (var service = await ConnectAsync(broker.MqttPort, TestIds.ClientId("svc")))
            {
                // Resent after reconnecting, as a QoS 1 publisher without PUBACK does.
                Assert.True((await PublishCommandAsync(service, deviceId, commandIds[^1], Commands - 1)).IsSuccess);
            }

            await using var device = await AnsweringDevice.ConnectAsync(broker.MqttPort, deviceId);
            await Eventually.WaitUntilAsync(() => device.Payloads.Count == Commands, TimeSpan.FromSeconds(30),
                $"the device receives all {Commands} commands");
            using var http = Http(broker);
            foreach (var id in commandIds)
            {
                Assert.True(device.Payloads.Values.Contains(id), $"command {id} reached the device");
                await WaitForStatusAsync(http, id, "Completed");
            }
        }
        finally
        {
            output.WriteLine(broker.Output);
        }
    }

    /// <summary>
    /// A database written by an earlier version, which wrote the record and the message apart: a pending record without
    /// its message is reported at start (not left Queued until its TTL), and the retry with its message id queues it.
    /// </summary>
    [Fact]
    public async Task RecordWithoutMessageFromEarlierVersion_ReportedAtStart_RetryQueuesAndDeliversIt()
    {
        using var dataDir = new TempDirectory("iot-cmd-accept");
        var deviceId = TestIds.ClientId("legacy");
        await using (var first = await BrokerProcess.StartAsync(dataDir.Path, Args))
        {
            Assert.Equal(0, await first.StopAsync());
        }

        var commandId = Guid.NewGuid().ToString("N");
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        using (var connection = new SqliteConnection($"Data Source={Path.Combine(dataDir.Path, "queues.db")};Pooling=False"))
        {
            connection.Open();
            using var insert = connection.CreateCommand();
            insert.CommandText = """
                INSERT INTO commands(command_id, device_id, name, message_id, seq, status, created_at, updated_at, expires_at)
                VALUES($c, $d, 'step', 'op-0', NULL, 0, $n, $n, $e)
                """;
            insert.Parameters.AddWithValue("$c", commandId);
            insert.Parameters.AddWithValue("$d", deviceId);
            insert.Parameters.AddWithValue("$n", now);
            insert.Parameters.AddWithValue("$e", now + 3_600_000);
            insert.ExecuteNonQuery();
        }

        await using var broker = await BrokerProcess.StartAsync(dataDir.Path, Args);
        try
        {
            await broker.WaitForOutputAsync(commandId, TimeSpan.FromSeconds(30));
            using var http = Http(broker);
            var reported = await http.GetFromJsonAsync<JsonElement>(new Uri($"api/commands/{commandId}", UriKind.Relative));
            Assert.Equal("DeadLettered", reported.GetProperty("status").GetString());
            Assert.Equal("IncompleteWrite", reported.GetProperty("deadLetterReason").GetString());

            var (status, retried) = await PostAsync(http, deviceId, 0);
            Assert.Equal(System.Net.HttpStatusCode.Accepted, status);
            Assert.Equal(commandId, retried);

            await using var device = await AnsweringDevice.ConnectAsync(broker.MqttPort, deviceId);
            await WaitForStatusAsync(http, commandId, "Completed");
            Assert.Equal(commandId, device.Payloads["""{"i":0}"""]);
        }
        finally
        {
            output.WriteLine(broker.Output);
        }
    }

    private async Task WaitForCrashAsync(BrokerProcess broker, string point)
    {
        // Exited and its output read to the end: the line it printed just before dying is in Output.
        Assert.True(await broker.WaitForExitAsync(TimeSpan.FromSeconds(60)), "the broker dies at the crash point");
        output.WriteLine(broker.Output);
        Assert.Contains("killing the process at " + point, broker.Output, StringComparison.Ordinal);
    }

    private static HttpClient Http(BrokerProcess broker) =>
        new() { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/"), Timeout = TimeSpan.FromSeconds(30) };

    private static async Task<(System.Net.HttpStatusCode Status, string CommandId)> PostAsync(HttpClient http, string deviceId, int i)
    {
        using var content = new StringContent($$"""{"i":{{i}}}""", Encoding.UTF8, "application/json");
        using var response = await http.PostAsync(new Uri($"api/devices/{deviceId}/commands/step?messageId=op-{i}", UriKind.Relative), content);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (response.StatusCode, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("commandId").GetString()!);
    }

    private static async Task WaitForStatusAsync(HttpClient http, string commandId, string status) =>
        await Eventually.WaitForAsync(() => http.GetFromJsonAsync<JsonElement>(new Uri($"api/commands/{commandId}", UriKind.Relative)),
            c => c.GetProperty("status").GetString() == status, TimeSpan.FromSeconds(30), $"command {commandId} is {status}");

    private static async Task<IMqttClient> ConnectAsync(int port, string clientId)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, port)
            .WithClientId(clientId)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithTimeout(TimeSpan.FromSeconds(10))
            .Build());
        return client;
    }

    private static Task<MqttClientPublishResult> PublishCommandAsync(IMqttClient service, string deviceId, string commandId, int i) =>
        service.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic($"commands/{deviceId}/step/{commandId}")
            .WithPayload($$"""{"i":{{i}}}""")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());

    /// <summary>A device that answers every command; <see cref="Payloads"/> maps each payload to its command id.</summary>
    private sealed class AnsweringDevice : IAsyncDisposable
    {
        private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();

        public ConcurrentDictionary<string, string> Payloads { get; } = new(StringComparer.Ordinal);

        public static async Task<AnsweringDevice> ConnectAsync(int port, string deviceId)
        {
            var device = new AnsweringDevice();
            device._client.ApplicationMessageReceivedAsync += e =>
            {
                var message = e.ApplicationMessage;
                var commandId = message.Topic[(message.Topic.LastIndexOf('/') + 1)..];
                device.Payloads[message.ConvertPayloadToString()] = commandId;

                // Answered off the receive loop, which must stay free to read the answer's PUBACK.
                _ = Task.Run(() => device._client.PublishAsync(new MqttApplicationMessageBuilder()
                    .WithTopic(message.ResponseTopic)
                    .WithPayload("""{"status":"ok"}""")
                    .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                    .Build()));
                return Task.CompletedTask;
            };
            await device._client.ConnectAsync(new MqttClientOptionsBuilder()
                .WithTcpServer(BrokerFixture.Host, port)
                .WithClientId(deviceId)
                .WithProtocolVersion(MqttProtocolVersion.V500)
                .WithTimeout(TimeSpan.FromSeconds(10))
                .Build());
            await device._client.SubscribeAsync($"devices/{deviceId}/commands/#", MqttQualityOfServiceLevel.AtLeastOnce);
            return device;
        }

        public ValueTask DisposeAsync()
        {
            _client.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
