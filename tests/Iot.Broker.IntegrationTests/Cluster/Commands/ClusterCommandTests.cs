using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Commands;

/// <summary>
/// Device commands across cluster nodes (issue 19, done-when 2): a command posted on node A reaches the device on node
/// B, its answer returns through A; a device that moves to node C after B is killed gets the command again (delivery 2)
/// and a completed command never runs again.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterCommandTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task PostOnA_DeviceOnB_AnswerReturned_ThenBKilledMidCommand_DeviceOnC_GetsItAgainAndCompletesOnce()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        await using var brokers = await ClusterBrokers.StartAsync(nats, 3, "--Iot:Commands:AnswerTimeout=00:00:05");
        try
        {
            using var a = Http(brokers, 0);
            var deviceId = TestIds.ClientId("cmddev");

            // 1. The device on B answers a command posted on A with wait: A learns of the answer from the shared record.
            await using (var onB = await Device.ConnectAsync(brokers.MqttPort(1), deviceId))
            {
                var answering = Task.Run(async () =>
                {
                    var command = await onB.ReceiveAsync(Generous);
                    await onB.AnswerAsync(command, """{"temperature":21.5}""");
                });
                using var waited = await a.PostAsync(new Uri($"api/devices/{deviceId}/commands/read?wait=10", UriKind.Relative), Json("{}"));
                await answering;
                Assert.Equal(HttpStatusCode.OK, waited.StatusCode);
                var body = await waited.Content.ReadFromJsonAsync<JsonElement>();
                Assert.Equal("Completed", body.GetProperty("status").GetString());
                Assert.Equal(21.5, body.GetProperty("answer").GetProperty("temperature").GetDouble());
                Assert.Equal(1, body.GetProperty("deliveryCount").GetInt32());
            }

            // 2. A second command reaches the device on B, and B dies (kill -9) before the device answers.
            var onB2 = await Device.ConnectAsync(brokers.MqttPort(1), deviceId);
            string commandId;
            await using (onB2)
            {
                using var posted = await a.PostAsync(new Uri($"api/devices/{deviceId}/commands/update", UriKind.Relative), Json("""{"v":2}"""));
                Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
                commandId = (await posted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("commandId").GetString()!;
                var first = await onB2.ReceiveAsync(Generous);
                Assert.Equal(commandId, Device.CommandIdOf(first));
                await Eventually.WaitUntilAsync(async () => await StatusAsync(a, commandId) == "Delivered", Generous, "A sees the command delivered");
                await brokers.KillAsync(1);
            }

            // 3. The device reconnects to C: the command comes again once B's lock expired, with delivery count 2.
            await using var onC = await Device.ConnectAsync(brokers.MqttPort(2), deviceId);
            var again = await onC.ReceiveAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(commandId, Device.CommandIdOf(again));
            Assert.Equal("""{"v":2}""", Encoding.UTF8.GetString(again.Payload));
            using (var pending = await a.GetAsync(new Uri($"api/commands/{commandId}", UriKind.Relative)))
            {
                Assert.Equal(2, (await pending.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("deliveryCount").GetInt32());
            }

            await onC.AnswerAsync(again, """{"status":"ok","attempt":2}""");
            var done = await Eventually.WaitForAsync(
                () => a.GetFromJsonAsync<JsonElement>(new Uri($"api/commands/{commandId}", UriKind.Relative)),
                record => record.GetProperty("status").GetString() == "Completed", Generous, "A sees the command completed");
            Assert.Equal(2, done.GetProperty("deliveryCount").GetInt32());
            Assert.Equal(2, done.GetProperty("answer").GetProperty("attempt").GetInt32());

            // A resent answer changes nothing: the command completed once.
            await onC.AnswerAsync(again, """{"status":"failed","attempt":3}""");

            // 4. Never delivered again: the next command is what the device gets next.
            var third = a.PostAsync(new Uri($"api/devices/{deviceId}/commands/ping?wait=20", UriKind.Relative), Json("{}"));
            var next = await onC.ReceiveAsync(Generous);
            Assert.Equal("ping", next.Topic.Split('/')[3]);
            await onC.AnswerAsync(next, "{}");
            using (var answered = await third)
            {
                Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
            }

            var after = await a.GetFromJsonAsync<JsonElement>(new Uri($"api/commands/{commandId}", UriKind.Relative));
            Assert.Equal(("Completed", 2), (after.GetProperty("status").GetString(), after.GetProperty("answer").GetProperty("attempt").GetInt32()));
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    private static async Task<string?> StatusAsync(HttpClient http, string commandId) =>
        (await http.GetFromJsonAsync<JsonElement>(new Uri($"api/commands/{commandId}", UriKind.Relative))).GetProperty("status").GetString();

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static HttpClient Http(ClusterBrokers brokers, int node) => new() { BaseAddress = brokers.HttpBaseAddress(node), Timeout = TimeSpan.FromSeconds(40) };

    /// <summary>A device (MQTTnet, MQTT 5) subscribed to its commands, which it acknowledges on receipt.</summary>
    private sealed class Device : IAsyncDisposable
    {
        private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
        private readonly Channel<MqttApplicationMessage> _commands = Channel.CreateUnbounded<MqttApplicationMessage>();

        public static async Task<Device> ConnectAsync(int port, string deviceId)
        {
            var device = new Device();
            device._client.ApplicationMessageReceivedAsync += e =>
            {
                device._commands.Writer.TryWrite(e.ApplicationMessage);
                return Task.CompletedTask;
            };

            // The node may still be taking over the session of a killed one: connect until it accepts.
            await Eventually.WaitUntilAsync(async () =>
            {
                try
                {
                    var result = await device._client.ConnectAsync(new MqttClientOptionsBuilder()
                        .WithTcpServer(BrokerFixture.Host, port)
                        .WithClientId(deviceId)
                        .WithProtocolVersion(MqttProtocolVersion.V500)
                        .WithCleanStart()
                        .WithTimeout(TimeSpan.FromSeconds(10))
                        .Build());
                    return result.ResultCode == MqttClientConnectResultCode.Success;
                }
                catch (MQTTnet.Exceptions.MqttCommunicationException)
                {
                    return false;
                }
            }, Generous, $"{deviceId} connects on port {port}");
            await device._client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
                .WithTopicFilter(f => f.WithTopic($"devices/{deviceId}/commands/#").WithAtLeastOnceQoS()).Build());
            return device;
        }

        public static string CommandIdOf(MqttApplicationMessage command) => command.Topic[(command.Topic.LastIndexOf('/') + 1)..];

        public async Task<MqttApplicationMessage> ReceiveAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                return await _commands.Reader.ReadAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"no command within {timeout.TotalSeconds} s");
            }
        }

        public async Task AnswerAsync(MqttApplicationMessage command, string answer)
        {
            var result = await _client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic(command.ResponseTopic).WithPayload(answer).WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.True(result.IsSuccess, $"PUBACK {result.ReasonCode} for the answer");
        }

        public async ValueTask DisposeAsync()
        {
            try
            {
                if (_client.IsConnected)
                {
                    await _client.DisconnectAsync();
                }
            }
            catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or ObjectDisposedException)
            {
                // Its node was killed.
            }

            _client.Dispose();
        }
    }
}
