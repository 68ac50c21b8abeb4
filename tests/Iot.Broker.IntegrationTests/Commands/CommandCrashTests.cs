using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Commands;

/// <summary>
/// kill -9 mid-stream: every command whose POST was accepted ends completed (its answer recorded once), re-posting
/// with the same message ids runs nothing twice, and at most the one command in flight reaches the device again.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class CommandCrashTests(ITestOutputHelper output)
{
    private const int CommandCount = 40;
    // Long enough that the answering device (which answers at once) is never slower than it on a busy machine: a
    // slow answer would be delivered again and count as a repeat below. 2 s did not always suffice.
    private static readonly string[] Args = ["--Iot:Commands:AnswerTimeout=00:00:10"];

    [Fact]
    public async Task Kill9MidStream_EveryAcceptedCommandCompletesOnce()
    {
        using var dataDir = new TempDirectory("iot-cmd-crash");
        var deviceId = TestIds.ClientId("crash");
        var handled = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var accepted = new ConcurrentDictionary<int, string>();

        var broker = await BrokerProcess.StartAsync(dataDir.Path, Args);
        try
        {
            await using (var device = await AnsweringDevice.ConnectAsync(broker.MqttPort, deviceId, handled))
            using (var http = Http(broker))
            {
                for (int i = 0; i < CommandCount; i++)
                {
                    if (i == CommandCount / 2)
                    {
                        // Mid-stream: commands queued, one likely in flight, answers arriving.
                        await Eventually.WaitUntilAsync(() => !handled.IsEmpty, TimeSpan.FromSeconds(20), "the device handles commands");
                        await broker.KillAsync();
                        output.WriteLine($"killed with {accepted.Count} commands accepted and {handled.Count} handled");
                        break;
                    }

                    accepted[i] = await PostAsync(http, deviceId, i);
                }
            }

            output.WriteLine("First run:\n" + broker.Output);
            await broker.DisposeAsync();
            broker = await BrokerProcess.StartAsync(dataDir.Path, Args);

            await using var again = await AnsweringDevice.ConnectAsync(broker.MqttPort, deviceId, handled);
            using var http2 = Http(broker);
            var ids = new string[CommandCount];
            for (int i = 0; i < CommandCount; i++)
            {
                // The client retries every request, with the same message ids.
                ids[i] = await PostAsync(http2, deviceId, i);
                if (accepted.TryGetValue(i, out var original))
                {
                    Assert.Equal(original, ids[i]);
                }
            }

            foreach (var id in ids)
            {
                var command = await Eventually.WaitForAsync(() => http2.GetFromJsonAsync<JsonElement>(new Uri($"api/commands/{id}", UriKind.Relative)),
                    c => c.GetProperty("status").GetString() == "Completed", TimeSpan.FromSeconds(60), $"command {id} completes");
                Assert.Equal(id, command.GetProperty("answer").GetProperty("commandId").GetString());
            }

            Assert.Equal(CommandCount, ids.Distinct().Count());
            Assert.All(ids, id => Assert.True(handled.ContainsKey(id)));
            var repeated = handled.Where(h => h.Value > 1).Select(h => h.Key).ToList();
            Assert.True(repeated.Count <= 1, $"only the command in flight at the kill may reach the device twice: {string.Join(", ", repeated)}");
        }
        finally
        {
            if (!broker.HasExited)
            {
                await broker.StopAsync();
            }

            output.WriteLine("Last run:\n" + broker.Output);
            await broker.DisposeAsync();
        }
    }

    private static HttpClient Http(BrokerProcess broker) =>
        new() { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/"), Timeout = TimeSpan.FromSeconds(30) };

    private static async Task<string> PostAsync(HttpClient http, string deviceId, int i)
    {
        using var content = new StringContent($$"""{"i":{{i}}}""", Encoding.UTF8, "application/json");
        using var response = await http.PostAsync(new Uri($"api/devices/{deviceId}/commands/step?messageId=op-{i}", UriKind.Relative), content);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("commandId").GetString()!;
    }

    /// <summary>A device that answers every command with its command id, counting how often it saw each.</summary>
    private sealed class AnsweringDevice : IAsyncDisposable
    {
        private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
        private readonly Channel<MqttApplicationMessage> _commands = Channel.CreateUnbounded<MqttApplicationMessage>();
        private readonly CancellationTokenSource _stop = new();
        private Task _loop = Task.CompletedTask;

        public static async Task<AnsweringDevice> ConnectAsync(int port, string deviceId, ConcurrentDictionary<string, int> handled)
        {
            var device = new AnsweringDevice();
            device._client.ApplicationMessageReceivedAsync += e =>
            {
                device._commands.Writer.TryWrite(e.ApplicationMessage);
                return Task.CompletedTask;
            };
            await device._client.ConnectAsync(new MqttClientOptionsBuilder()
                .WithTcpServer(BrokerFixture.Host, port)
                .WithClientId(deviceId)
                .WithProtocolVersion(MqttProtocolVersion.V500)
                .WithTimeout(TimeSpan.FromSeconds(10))
                .Build());
            await device._client.SubscribeAsync($"devices/{deviceId}/commands/#", MqttQualityOfServiceLevel.AtLeastOnce);
            device._loop = device.AnswerAsync(handled);
            return device;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _loop;
            _client.Dispose();
            _stop.Dispose();
        }

        private async Task AnswerAsync(ConcurrentDictionary<string, int> handled)
        {
            try
            {
                await foreach (var command in _commands.Reader.ReadAllAsync(_stop.Token))
                {
                    var commandId = command.Topic[(command.Topic.LastIndexOf('/') + 1)..];
                    handled.AddOrUpdate(commandId, 1, (_, n) => n + 1);
                    try
                    {
                        await _client.PublishAsync(new MqttApplicationMessageBuilder()
                            .WithTopic(command.ResponseTopic)
                            .WithPayload($$"""{"commandId":"{{commandId}}"}""")
                            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                            .Build(), _stop.Token);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        // The broker was killed under the answer: it redelivers the command after restart.
                    }
                }
            }
            catch (OperationCanceledException)
            {
            }
        }
    }
}
