using System.Net.Http.Json;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Routing;

/// <summary>
/// The crossover publisher stops after every other service: a device disconnected by a graceful stop (SIGTERM) raises
/// <c>Iot.Device.Disconnected</c> with reason <c>ServerShuttingDown</c>, and it is recorded for its subscription before the
/// process exits (read after the restart).
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class CrossoverShutdownTests(ITestOutputHelper output)
{
    [Fact]
    public async Task GracefulStop_DisconnectedWithServerShuttingDown_RecordedBeforeExit()
    {
        using var dataDir = new TempDirectory("iot-crossover-stop");
        var deviceId = TestIds.ClientId("dev");
        var broker = await BrokerProcess.StartAsync(dataDir.Path, "--Iot:Shutdown:ReadinessDelay=00:00:00");
        try
        {
            using (var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/") })
            using (var response = await http.PutAsJsonAsync(new Uri("api/subscriptions/lifecycle", UriKind.Relative), new
            {
                filter = new { topicFilter = "$iot/devices/" + deviceId, includedEventTypes = new[] { "Iot.Device.Disconnected" } },
                destination = new { kind = "pull" },
            }))
            {
                Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
            }

            using var client = new MqttClientFactory().CreateMqttClient();
            var disconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            client.DisconnectedAsync += _ =>
            {
                disconnected.TrySetResult();
                return Task.CompletedTask;
            };
            await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.MqttPort).WithClientId(deviceId).Build());
            Assert.Equal(0, await broker.StopAsync());
            await disconnected.Task.WaitAsync(TimeSpan.FromSeconds(30));
            output.WriteLine(broker.Output);
            await broker.DisposeAsync();

            broker = await BrokerProcess.StartAsync(dataDir.Path);
            using var again = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/") };
            using var received = await again.PostAsync(new Uri("api/subscriptions/lifecycle/events:receive?maxEvents=10", UriKind.Relative), null);
            var body = await received.Content.ReadFromJsonAsync<JsonElement>();
            var cloudEvent = Assert.Single(body.GetProperty("value").EnumerateArray()).GetProperty("event");
            Assert.Equal("Iot.Device.Disconnected", cloudEvent.GetProperty("type").GetString());
            Assert.Equal("ServerShuttingDown", cloudEvent.GetProperty("data").GetProperty("reason").GetString());
        }
        catch
        {
            output.WriteLine(broker.Output);
            throw;
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }
}
