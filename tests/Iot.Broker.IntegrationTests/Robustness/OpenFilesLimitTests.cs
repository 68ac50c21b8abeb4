using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.RegularExpressions;
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

            // The accept loop meets EMFILE, counts it and logs it (1040 socket transport, 1041 epoll): wait for that,
            // not for a fixed time, before freeing the descriptors.
            await broker.WaitForOutputAsync("MQTT accept failed", TimeSpan.FromSeconds(60));
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

    [Fact]
    public async Task AtStart_AnOpenFilesLimitBelowMaxConnections_IsLoggedWithWhatFits_AndMetricsShowTheDescriptors()
    {
        using var dataDir = new TempDirectory("iot-nofile-warn");

        // 10 000 000, the setting's maximum, is above any open-files limit Linux allows (fs.nr_open is at most 2^30
        // but defaults to 1 048 576, and no test machine raises it): the broker says how many connections fit.
        await using var broker = await BrokerProcess.StartAsync(dataDir.Path, "--Iot:Mqtt:MaxConnections=10000000");
        var (soft, hard) = ReadLimits(broker.Id);
        await broker.WaitForOutputAsync("fewer than Iot:Mqtt:MaxConnections 10000000", TimeSpan.FromSeconds(30));
        Assert.Contains($"The open-files limit is {soft} (hard {hard}) with ", broker.Output, StringComparison.Ordinal);

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/") };
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains($"\nprocess_max_fds {soft}\n", metrics, StringComparison.Ordinal);
        var reported = OpenFds(metrics);
        var counted = Directory.GetFiles($"/proc/{broker.Id}/fd").Length;
        Assert.InRange(reported, counted - 20, counted + 20);

        // Ten more connections are ten more descriptors.
        var sockets = new List<Socket>();
        try
        {
            for (var i = 0; i < 10; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                sockets.Add(socket);
                await socket.ConnectAsync("127.0.0.1", broker.MqttPort);
            }

            await Eventually.WaitUntilAsync(async () =>
            {
                var now = OpenFds(await http.GetStringAsync("/metrics"));
                return now >= reported + 10;
            }, TimeSpan.FromSeconds(10), "process_open_fds counts the accepted connections");
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }

    [Fact]
    public async Task AtStart_AnOpenFilesLimitAboveMaxConnections_IsNotWarned()
    {
        using var dataDir = new TempDirectory("iot-nofile-quiet");
        await using var broker = await BrokerProcess.StartAsync(dataDir.Path, "--Iot:Mqtt:MaxConnections=100");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/") };
        Assert.Contains("process_max_fds ", await http.GetStringAsync("/metrics"), StringComparison.Ordinal);

        // The warning would be logged before the ports file is written, and the heap compaction a second after start
        // logs later through the same queue and pipe: once that line is read, the warning would have been read too.
        await broker.WaitForOutputAsync("Compacted the heap after start", TimeSpan.FromSeconds(30));
        Assert.DoesNotContain("[1024]", broker.Output, StringComparison.Ordinal);
    }

    private static long OpenFds(string metrics) =>
        long.Parse(Regex.Match(metrics, "\nprocess_open_fds (\\d+)\n").Groups[1].Value, CultureInfo.InvariantCulture);

    private static (long Soft, long Hard) ReadLimits(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/limits").Single(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        var fields = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (long.Parse(fields[0], CultureInfo.InvariantCulture), long.Parse(fields[1], CultureInfo.InvariantCulture));
    }

    private static async Task RunAsync(string file, string arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(file, arguments) { RedirectStandardError = true })!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{file} {arguments}: {error}");
    }
}
