using System.Net.Http.Json;
using System.Text.Json;
using Iot.TestUtilities;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Dashboard;

/// <summary>
/// Issue 7's dashboard in a real browser: the built broker (run as a process from its output folder, as users run it),
/// a few MQTT devices, and headless Debian Chromium driven by playwright-core (tests/tools/node/dashboard-check.mjs).
/// A missing Chromium or playwright-core fails the test with the way to install it; scripts/test.sh installs both.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class DashboardBrowserTests(ITestOutputHelper output)
{
    private const string Chromium = "/usr/bin/chromium";

    // A 1 s tumbling window on arrival time with no tolerance, so that values appear and change within seconds.
    private static readonly string[] WindowArgs =
    [
        "--Iot:Streams:Windows:0:Name=t1s",
        "--Iot:Streams:Windows:0:Size=00:00:01",
        "--Iot:Streams:Windows:0:EventTime=Arrival",
        "--Iot:Streams:Windows:0:Tolerance=00:00:00",
        "--Iot:Streams:Windows:0:Fields:0=temperature",
        "--Iot:Streams:Windows:0:Fields:1=humidity",
        "--Iot:Streams:Windows:0:Fields:2=battery",
    ];

    [Fact]
    public async Task Dashboard_InChromium_ShowsLiveAggregatesClientsQueuesAnswersAPingAndA401()
    {
        var node = ExternalClients.RequireTool("node", "nodejs");
        RequireBrowserTools();
        using var dataDir = new TempDirectory("iot-dashboard");
        using var screenshots = new TempDirectory("iot-dashboard-shots");
        await using var broker = await BrokerProcess.StartAsync(dataDir.Path, WindowArgs);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/"), Timeout = TimeSpan.FromSeconds(15) };
        var subscription = "dash-" + Guid.NewGuid().ToString("N")[..8];
        using (var created = await http.PutAsJsonAsync(new Uri($"api/subscriptions/{subscription}", UriKind.Relative),
            new { filter = new { topicFilter = "devices/+/events/#" }, destination = new { kind = "pull" } }))
        {
            Assert.True(created.IsSuccessStatusCode, $"creating the subscription: {(int)created.StatusCode} {await created.Content.ReadAsStringAsync()}");
        }

        var ids = Enumerable.Range(1, 3).Select(i => TestIds.ClientId($"dash{i}")).ToArray();
        var devices = new List<SimulatedDevice>();
        try
        {
            for (var i = 0; i < ids.Length; i++)
            {
                devices.Add(await SimulatedDevice.StartAsync("127.0.0.1", broker.MqttPort, ids[i], 20 + (i * 3), TimeSpan.FromMilliseconds(100)));
            }

            // Aggregated before the page opens: the chart must open with these windows (the history), not only later ones.
            var (firstEnd, minPoints) = await AggregatedBeforeOpenAsync(http, ids, minWindows: 5);

            var environment = new Dictionary<string, string?>
            {
                ["HISTORY_FIRST_END"] = firstEnd.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
                ["HISTORY_MIN_POINTS"] = minPoints.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["NODE_PATH"] = Path.Combine(RepositoryPaths.NodeTools, "node_modules"),
                ["DASHBOARD_URL"] = $"http://127.0.0.1:{broker.HttpPort}/",
                ["DEVICE_IDS"] = string.Join(',', ids),
                ["COMMAND_DEVICE"] = ids[1],
                ["SUBSCRIPTION"] = subscription,
                ["CHROMIUM"] = Chromium,
                ["TIMEOUT_MS"] = "30000",
                ["SCREENSHOT_DIR"] = screenshots.Path,
                ["DOCS_SCREENSHOT"] = Environment.GetEnvironmentVariable("IOT_DASHBOARD_DOCS_SCREENSHOT"),
            };
            var result = await ChildProcess.RunAsync(node, [Path.Combine(RepositoryPaths.NodeTools, "dashboard-check.mjs")],
                TimeSpan.FromSeconds(90), RepositoryPaths.NodeTools, environment);
            output.WriteLine(result.ToString());
            if (result.ExitCode != 0)
            {
                // Keep the failure screenshot where a developer can open it (the temp folder is deleted).
                var kept = Path.Combine(Path.GetTempPath(), $"iot-dashboard-failure-{Guid.NewGuid():N}.png");
                if (File.Exists(Path.Combine(screenshots.Path, "failure.png")))
                {
                    File.Copy(Path.Combine(screenshots.Path, "failure.png"), kept);
                }

                Assert.Fail($"The dashboard check failed (screenshot {kept}):\n{result}\nbroker:\n{broker.Output}");
            }

            using var json = JsonDocument.Parse(result.OutputLines[^1]);
            var root = json.RootElement;
            var aggregates = root.GetProperty("aggregates");
            Assert.NotEqual(aggregates.GetProperty("firstEnd").GetString(), aggregates.GetProperty("laterEnd").GetString());
            foreach (var id in ids)
            {
                var shown = aggregates.GetProperty("values").GetProperty(id).GetString();
                Assert.Matches(@"^\d+\.\d\d$", shown);
            }

            var chart = root.GetProperty("history").GetProperty("chart");
            Assert.True(DateTimeOffset.Parse(chart.GetProperty("firstEnd").GetString()!, System.Globalization.CultureInfo.InvariantCulture) <= firstEnd);
            Assert.True(int.Parse(chart.GetProperty("history").GetString()!, System.Globalization.CultureInfo.InvariantCulture) >= ids.Length * minPoints);

            var command = root.GetProperty("command");
            Assert.Equal("ok", command.GetProperty("outcome").GetString());
            Assert.Contains("Completed", command.GetProperty("status").GetString(), StringComparison.Ordinal);
            Assert.Contains("\"pong\": true", command.GetProperty("text").GetString(), StringComparison.Ordinal);
            Assert.Contains(ids[1], command.GetProperty("text").GetString(), StringComparison.Ordinal);
            Assert.Equal(1, devices[1].Answered);
            Assert.Contains("401", root.GetProperty("authBanner").GetString(), StringComparison.Ordinal);
            Assert.Empty(root.GetProperty("consoleErrors").EnumerateArray());
        }
        finally
        {
            foreach (var device in devices)
            {
                await device.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Waits until the history holds at least <paramref name="minWindows"/> windows of every device, and returns the
    /// earliest window end and the fewest windows of one device at that moment.
    /// </summary>
    private static async Task<(DateTimeOffset FirstEnd, int MinPoints)> AggregatedBeforeOpenAsync(HttpClient http, string[] ids, int minWindows)
    {
        var results = await Eventually.WaitForAsync(
            async () => (await http.GetFromJsonAsync<JsonElement>(new Uri("api/streams/telemetry/aggregates/history?window=t1s", UriKind.Relative)))
                .GetProperty("results").EnumerateArray()
                .Select(r => (Key: r.GetProperty("key").GetString(), End: r.GetProperty("end").GetDateTimeOffset()))
                .Where(r => ids.Contains(r.Key))
                .ToList(),
            results => ids.Min(id => results.Count(r => r.Key == id)) >= minWindows,
            TimeSpan.FromSeconds(60), $"the history holds {minWindows} windows of every device");
        return (results.Min(r => r.End), ids.Min(id => results.Count(r => r.Key == id)));
    }

    private static void RequireBrowserTools()
    {
        if (!File.Exists(Chromium))
        {
            throw new InvalidOperationException(
                $"{Chromium} is missing: the dashboard test needs Debian's chromium (`apt-get install -y chromium`; scripts/test.sh installs it).");
        }

        if (!File.Exists(Path.Combine(RepositoryPaths.NodeTools, "node_modules", "playwright-core", "package.json")))
        {
            throw new InvalidOperationException(
                $"playwright-core is not installed in {RepositoryPaths.NodeTools}: run scripts/test.sh, which runs `npm ci` there.");
        }
    }
}
