using System.Diagnostics;
using System.Net.Sockets;
using Iot.TestUtilities;
using MQTTnet;

namespace Iot.Broker.IntegrationTests.Robustness;

/// <summary>
/// The broker as its own process (Program.cs: the socket transport with inline completions) running out of file
/// descriptors: connections it cannot accept are counted (<c>limit="open_files"</c>) and wait in the backlog, and the
/// broker serves again as soon as descriptors are free, without a restart.
/// </summary>
public sealed class OpenFilesLimitTests
{
    [Fact]
    public async Task OutOfFileDescriptors_AcceptWaits_IsCounted_AndTheBrokerRecovers()
    {
        using var dataDir = new TempDirectory("iot-nofile");
        await using var broker = await BrokerProcess.StartAsync(dataDir.Path);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/") };
        Assert.Contains("iot_mqtt_limit_hits_total{limit=\"open_files\"} 0", await http.GetStringAsync("/metrics"), StringComparison.Ordinal);

        // Leave the broker 30 descriptors more than it has open now, then open 100 sockets to it.
        var open = Directory.GetFiles($"/proc/{broker.Id}/fd").Length;
        await RunAsync("prlimit", $"--pid {broker.Id} --nofile={open + 30}:{open + 30}");
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < 100; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(socket);
                await socket.ConnectAsync("127.0.0.1", broker.MqttPort); // completed by the kernel's backlog
            }

            await Task.Delay(1000);
            Assert.False(broker.HasExited, "the broker survives running out of descriptors");
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }

        // Descriptors are free again: the broker accepts and serves without a restart.
        await Eventually.WaitUntilAsync(async () =>
        {
            try
            {
                using var client = new MqttClientFactory().CreateMqttClient();
                var options = new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", broker.MqttPort).WithClientId($"after-{Guid.NewGuid():N}")
                    .WithTimeout(TimeSpan.FromSeconds(3)).Build();
                var result = await client.ConnectAsync(options);
                await client.DisconnectAsync();
                return result.ResultCode == MqttClientConnectResultCode.Success;
            }
            catch (Exception ex) when (ex is MQTTnet.Exceptions.MqttCommunicationException or OperationCanceledException or SocketException or InvalidOperationException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(30), "a client connects after the descriptors are free");

        var metrics = await http.GetStringAsync("/metrics");
        Assert.Matches("iot_mqtt_limit_hits_total\\{limit=\"open_files\"\\} [1-9]", metrics);
    }

    private static async Task RunAsync(string file, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardError = true })!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{file} {arguments}: {error}");
    }
}
