using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Commands;

/// <summary>
/// Issue 16, atomic acceptance of a device's answer: the command's final status and answer and its reply-queue message are
/// written in one transaction before the device's PUBACK. The broker is killed (SIGKILL, from the test-only
/// <c>Iot:Testing:CrashAt</c> points <c>answer-record-written</c>: status written, reply not yet;
/// <c>answer-reply-written</c>: both written, not committed; <c>answer-committed</c>: committed, no PUBACK yet) while it
/// records the answer; after the restart the device, which saw no PUBACK, sends its answer again. The command ends
/// Completed with that answer, and the reply queue, which has no duplicate detection of its own, holds it exactly once.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class CommandAnswerCrashTests(ITestOutputHelper output)
{
    private const string Answer = """{"status":"ok","pin":4711}""";
    private static readonly string[] Args = ["--Iot:Commands:AnswerTimeout=00:00:05"];

    public static TheoryData<string> Points => new()
    {
        "answer-record-written",
        "answer-reply-written",
        "answer-committed",
    };

    [Theory]
    [MemberData(nameof(Points))]
    public async Task KilledWhileRecordingAnswer_DeviceResends_CompletedOnceWithOneReply(string point)
    {
        using var dataDir = new TempDirectory("iot-cmd-answer");
        var deviceId = TestIds.ClientId("ans");
        var replyQueue = "replies-" + Guid.NewGuid().ToString("N")[..8];
        string commandId;
        string responseTopic;

        await using (var crashing = await BrokerProcess.StartAsync(dataDir.Path, [.. Args, $"--Iot:Testing:CrashAt={point}"]))
        {
            using var http = Http(crashing);

            // Without duplicate detection on the queue, only the answer's transaction can keep the reply single.
            using (var created = await http.PutAsJsonAsync(new Uri($"api/queues/{replyQueue}", UriKind.Relative),
                new { duplicateDetectionWindow = "00:00:00" }))
            {
                Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
            }

            using (var content = new StringContent("""{"set":"pin"}""", Encoding.UTF8, "application/json"))
            using (var posted = await http.PostAsync(new Uri($"api/devices/{deviceId}/commands/setPin?replyQueue={replyQueue}", UriKind.Relative), content))
            {
                Assert.Equal(System.Net.HttpStatusCode.Accepted, posted.StatusCode);
                commandId = (await posted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("commandId").GetString()!;
            }

            using var device = await ConnectAsync(crashing.MqttPort, deviceId);
            var received = new TaskCompletionSource<MqttApplicationMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
            device.ApplicationMessageReceivedAsync += e =>
            {
                received.TrySetResult(e.ApplicationMessage);
                return Task.CompletedTask;
            };
            await device.SubscribeAsync($"devices/{deviceId}/commands/#", MqttQualityOfServiceLevel.AtLeastOnce);
            var command = await received.Task.WaitAsync(TimeSpan.FromSeconds(30));
            responseTopic = command.ResponseTopic;
            Assert.Equal($"devices/{deviceId}/responses/{commandId}", responseTopic);

            // The broker dies while it records the answer: no PUBACK.
            await Assert.ThrowsAnyAsync<Exception>(() => PublishAnswerAsync(device, responseTopic));
            // Exited and its output read to the end: the line it printed just before dying is in Output.
            Assert.True(await crashing.WaitForExitAsync(TimeSpan.FromSeconds(60)), "the broker dies at the crash point");
            output.WriteLine(crashing.Output);
            Assert.Contains("killing the process at " + point, crashing.Output, StringComparison.Ordinal);
        }

        await using var broker = await BrokerProcess.StartAsync(dataDir.Path, Args);
        try
        {
            using (var device = await ConnectAsync(broker.MqttPort, deviceId))
            {
                // Resent after reconnecting, as a QoS 1 publisher without PUBACK does.
                Assert.True((await PublishAnswerAsync(device, responseTopic)).IsSuccess);
            }

            using var http = Http(broker);
            var recorded = await http.GetFromJsonAsync<JsonElement>(new Uri($"api/commands/{commandId}", UriKind.Relative));
            Assert.Equal("Completed", recorded.GetProperty("status").GetString());
            Assert.Equal(4711, recorded.GetProperty("answer").GetProperty("pin").GetInt32());

            var replies = (await http.GetFromJsonAsync<JsonElement>(new Uri($"api/queues/{replyQueue}/messages?maxMessages=100", UriKind.Relative)))
                .GetProperty("value").EnumerateArray().ToList();
            var reply = Assert.Single(replies);
            Assert.Equal(commandId, reply.GetProperty("correlationId").GetString());
            Assert.Equal("Completed", reply.GetProperty("applicationProperties").GetProperty("status").GetString());
        }
        finally
        {
            output.WriteLine(broker.Output);
        }
    }

    private static HttpClient Http(BrokerProcess broker) =>
        new() { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/"), Timeout = TimeSpan.FromSeconds(30) };

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

    private static Task<MqttClientPublishResult> PublishAnswerAsync(IMqttClient device, string responseTopic) =>
        device.PublishAsync(new MqttApplicationMessageBuilder()
            .WithTopic(responseTopic)
            .WithPayload(Answer)
            .WithContentType("application/json")
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build());
}
