using System.Net;
using System.Text;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Deployment;

/// <summary>
/// The broker run as a user runs it: from a working directory holding its appsettings.json, with the default data
/// directory ./data under it. The configuration is watched by polling, so durable writes under the working directory
/// wake no file-watcher thread (a recursive inotify watch used to handle every write), and a changed appsettings.json
/// still takes effect.
/// </summary>
public sealed class WorkingDirectoryTests
{
    [Fact]
    public async Task DefaultDataDirectory_UnderTheWorkingDirectory_WakesNoFileWatcher_AndConfigurationStillReloads()
    {
        using var workingDirectory = new TempDirectory("iot-cwd");
        var settings = Path.Combine(workingDirectory.Path, "appsettings.json");
        await File.WriteAllTextAsync(settings, """{ "Iot": { "Security": { "AllowAnonymous": true } } }""");
        await using var broker = await BrokerProcess.StartInAsync(workingDirectory.Path);

        // Durable telemetry into ./data (the default route of devices/+/telemetry is the telemetry stream).
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.MqttPort).WithClientId(TestIds.ClientId("cwd")).Build());
        for (var i = 0; i < 500; i++)
        {
            await client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic("devices/cwd-device/telemetry").WithPayload(Encoding.UTF8.GetBytes($$"""{"n":{{i}}}"""))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
        }

        await client.DisconnectAsync();
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(workingDirectory.Path, "data"), "*", SearchOption.AllDirectories));
        var threads = ProcessInspection.Threads(broker.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)).Select(t => t.Name).ToList();
        Assert.Contains("iot-epoll-0", threads);
        Assert.DoesNotContain(".NET File Watch", threads);

        // appsettings.json still reloads: anonymous HTTP access is withdrawn within the polling interval.
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/") };
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/clients")).StatusCode);
        await File.WriteAllTextAsync(settings, """{ "Iot": { "Security": { "AllowAnonymous": false } } }""");
        await Eventually.WaitForAsync(
            async () => (await http.GetAsync("/api/clients")).StatusCode, status => status == HttpStatusCode.Unauthorized,
            TimeSpan.FromSeconds(20), "anonymous access withdrawn after appsettings.json changed");
    }
}
