using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// Issue 16, findings 1 and 14, through a broker child process restarted in the middle: no identity takes over or wipes
/// another's session (a device's, a service's), a resumed session keeps only what its owner may still read, and
/// persistent sessions per identity are capped across restarts.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class SessionOwnershipTests(ITestOutputHelper output) : IAsyncLifetime, IDisposable
{
    private const string DevicePassword = "dev-secret-1";
    private const string DashboardPassword = "dash-secret-1";
    private const string ServicePassword = "svc-secret-1";
    private const string ServiceApiKey = "svc-api-key-0123456789abcdef";
    private readonly TempDirectory _dataDir = new("iot-ownership");
    private readonly string _device = TestIds.ClientId("devb");
    private BrokerProcess? _broker;

    private BrokerProcess Broker => _broker!;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_broker is not null)
        {
            output.WriteLine(_broker.Output);
            await _broker.DisposeAsync();
        }

    }

    public void Dispose() => _dataDir.Dispose();

    [Fact]
    public async Task DashboardWithADevicesClientId_IsRefusedWithAndWithoutCleanStart_DeviceStillGetsItsCommand()
    {
        await StartAsync();

        // The device has a persistent session subscribed to its commands, and goes away.
        using (var device = await ConnectAsync(_device, _device, DevicePassword, cleanStart: true))
        {
            await device.SubscribeAsync($"devices/{_device}/commands/#", MqttQualityOfServiceLevel.AtLeastOnce);
            await device.DisconnectAsync();
        }

        // A service queues a command for it.
        var commandId = await PostCommandAsync("setPin", """{"pin":"4711"}""");

        await RestartAsync();
        using var http = Http();

        // The dashboard tries the device's client id: persistent (the report's command line), clean, and MQTT 5.
        var port = Broker.MqttPort.ToString(CultureInfo.InvariantCulture);
        string[] common = ["-h", "127.0.0.1", "-p", port, "-i", _device, "-u", "dash", "-P", DashboardPassword, "-q", "1", "-t", "aggregates/#", "-v", "-W", "5"];
        foreach (var variant in new[] { new[] { "-c", "-V", "mqttv311" }, ["-V", "mqttv311"], ["-c", "-V", "mqttv5", "-x", "3600"] })
        {
            var attempt = await ExternalClients.MosquittoSubAsync([.. common, .. variant], TimeSpan.FromSeconds(30));
            Assert.True(attempt.ExitCode != 0, "the dashboard must be refused: " + attempt);
            Assert.Matches("(?i)identifier (rejected|not valid)", attempt.StandardOutput + attempt.StandardError);
            Assert.DoesNotContain("4711", attempt.StandardOutput + attempt.StandardError, StringComparison.Ordinal);
        }

        using (var dashboard = new MqttClientFactory().CreateMqttClient())
        {
            var refused = await dashboard.ConnectAsync(Options(_device, "dash", DashboardPassword, cleanStart: false));
            Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, refused.ResultCode);
        }

        Assert.Equal("Queued", await CommandStatusAsync(http, commandId));
        Assert.True(await MetricAsync("iot_mqtt_client_id_refused_total") >= 4);

        // The device resumes its session and gets the command; only then is it Delivered.
        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var resumed = new MqttClientFactory().CreateMqttClient();
        resumed.ApplicationMessageReceivedAsync += e =>
        {
            received.TrySetResult(e.ApplicationMessage.Topic + " " + e.ApplicationMessage.ConvertPayloadToString());
            return Task.CompletedTask;
        };
        var result = await resumed.ConnectAsync(Options(_device, _device, DevicePassword, cleanStart: false));
        Assert.True(result.IsSessionPresent);
        var command = await received.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.StartsWith($"devices/{_device}/commands/setPin/", command, StringComparison.Ordinal);
        Assert.Contains("4711", command, StringComparison.Ordinal);
        await Eventually.WaitUntilAsync(async () => await CommandStatusAsync(http, commandId) == "Delivered", TimeSpan.FromSeconds(30), "the device's PUBACK marks it delivered");
    }

    [Fact]
    public async Task DashboardWithAServicesClientId_IsRefused_ServiceResumesWithWhatWasQueued()
    {
        await StartAsync();
        var worker = TestIds.ClientId("ingest");
        var topic = $"devices/{_device}/telemetry";
        using (var service = await ConnectAsync(worker, "svc", ServicePassword, cleanStart: true))
        {
            await service.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtLeastOnce);
            await service.DisconnectAsync();
        }

        using (var device = await ConnectAsync(_device, _device, DevicePassword, cleanStart: true, sessionExpiry: 0))
        {
            var ack = await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload("""{"t":21.5}""")
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
            Assert.True(ack.IsSuccess);
        }

        await RestartAsync();

        foreach (var cleanStart in new[] { false, true })
        {
            using var dashboard = new MqttClientFactory().CreateMqttClient();
            var refused = await dashboard.ConnectAsync(Options(worker, "dash", DashboardPassword, cleanStart));
            Assert.Equal(MqttClientConnectResultCode.ClientIdentifierNotValid, refused.ResultCode);
        }

        var received = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var resumed = new MqttClientFactory().CreateMqttClient();
        resumed.ApplicationMessageReceivedAsync += e =>
        {
            received.TrySetResult(e.ApplicationMessage.ConvertPayloadToString());
            return Task.CompletedTask;
        };
        Assert.True((await resumed.ConnectAsync(Options(worker, "svc", ServicePassword, cleanStart: false))).IsSessionPresent);
        Assert.Equal("""{"t":21.5}""", await received.Task.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task RoleChangedWhileOffline_ResumedSessionLosesWhatItMayNoLongerRead()
    {
        // "watcher" is a service in the first run and a dashboard in the second (configuration seeding changes roles).
        await StartAsync("--Iot:Security:Identities:3:Id=watcher", "--Iot:Security:Identities:3:Role=Service", "--Iot:Security:Identities:3:Password=watch-secret-1");
        var topic = $"devices/{_device}/telemetry";
        using (var watcher = await ConnectAsync("watcher", "watcher", "watch-secret-1", cleanStart: true))
        {
            await watcher.SubscribeAsync(topic, MqttQualityOfServiceLevel.AtLeastOnce);
            await watcher.DisconnectAsync();
        }

        using (var device = await ConnectAsync(_device, _device, DevicePassword, cleanStart: true, sessionExpiry: 0))
        {
            Assert.True((await device.PublishAsync(new MqttApplicationMessageBuilder().WithTopic(topic).WithPayload("{\"t\":1}")
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build())).IsSuccess);
        }

        await RestartAsync("--Iot:Security:Identities:3:Id=watcher", "--Iot:Security:Identities:3:Role=Dashboard", "--Iot:Security:Identities:3:Password=watch-secret-1");

        var received = 0;
        using var resumed = new MqttClientFactory().CreateMqttClient();
        resumed.ApplicationMessageReceivedAsync += _ =>
        {
            Interlocked.Increment(ref received);
            return Task.CompletedTask;
        };
        Assert.True((await resumed.ConnectAsync(Options("watcher", "watcher", "watch-secret-1", cleanStart: false))).IsSessionPresent);

        // Queued messages would be written right after CONNACK, before the PINGRESP.
        await resumed.PingAsync();
        await Eventually.WaitUntilAsync(() => Broker.Output.Contains("Session watcher resumed within its owner's current rights: 1 subscriptions and 1 queued messages", StringComparison.Ordinal),
            TimeSpan.FromSeconds(20), "the broker says what it dropped");
        Assert.Equal(0, Volatile.Read(ref received));
        using var http = Http();
        var clients = JsonDocument.Parse(await http.GetStringAsync(new Uri("api/clients", UriKind.Relative))).RootElement;
        var entry = clients.GetProperty("clients").EnumerateArray().Single(c => c.GetProperty("clientId").GetString() == "watcher");
        Assert.Equal(0, entry.GetProperty("subscriptions").GetInt32());
    }

    [Fact]
    public async Task PersistentSessionsPerIdentity_AreCapped_AcrossARestart_AndDashboardExpiryIsCapped()
    {
        await StartAsync("--Iot:Mqtt:MaxPersistentSessionsPerIdentity=2");
        var ids = Enumerable.Range(0, 3).Select(i => TestIds.ClientId("dash" + i)).ToArray();
        for (var i = 0; i < 2; i++)
        {
            using var dashboard = new MqttClientFactory().CreateMqttClient();
            var result = await dashboard.ConnectAsync(Options(ids[i], "dash", DashboardPassword, cleanStart: true, sessionExpiry: 1_000_000));
            Assert.Equal(86_400u, result.SessionExpiryInterval);
            await dashboard.DisconnectAsync();
        }

        await AssertQuotaExceededAsync(ids[2]);
        await RestartAsync("--Iot:Mqtt:MaxPersistentSessionsPerIdentity=2");
        await AssertQuotaExceededAsync(ids[2]);
        Assert.True(await MetricAsync("iot_mqtt_limit_hits_total{limit=\"max_persistent_sessions_per_identity\"}") >= 1);

        // A session that ends with its connection is still allowed, and ending a persistent one frees its place.
        using (var clean = await ConnectAsync(ids[2], "dash", DashboardPassword, cleanStart: true, sessionExpiry: 0))
        {
            await clean.DisconnectAsync();
        }

        using (var ending = await ConnectAsync(ids[0], "dash", DashboardPassword, cleanStart: true, sessionExpiry: 0))
        {
            await ending.DisconnectAsync();
        }

        using var third = await ConnectAsync(ids[2], "dash", DashboardPassword, cleanStart: true);
    }

    private async Task AssertQuotaExceededAsync(string clientId)
    {
        using var dashboard = new MqttClientFactory().CreateMqttClient();
        var refused = await dashboard.ConnectAsync(Options(clientId, "dash", DashboardPassword, cleanStart: true));
        Assert.Equal(MqttClientConnectResultCode.QuotaExceeded, refused.ResultCode);
    }

    private string[] Args(string[] extra) =>
    [
        "--Iot:Security:AllowAnonymous=false",
        "--Iot:Security:PasswordIterations=1000",
        $"--Iot:Security:Identities:0:Id={_device}", "--Iot:Security:Identities:0:Role=Device", $"--Iot:Security:Identities:0:Password={DevicePassword}",
        "--Iot:Security:Identities:1:Id=dash", "--Iot:Security:Identities:1:Role=Dashboard", $"--Iot:Security:Identities:1:Password={DashboardPassword}",
        "--Iot:Security:Identities:2:Id=svc", "--Iot:Security:Identities:2:Role=Service", $"--Iot:Security:Identities:2:Password={ServicePassword}",
        $"--Iot:Security:Identities:2:ApiKey={ServiceApiKey}",
        .. extra,
    ];

    private async Task StartAsync(params string[] extra) => _broker = await BrokerProcess.StartAsync(_dataDir.Path, Args(extra));

    /// <summary>kill -9 and a new broker process on the same data directory.</summary>
    private async Task RestartAsync(params string[] extra)
    {
        await Broker.KillAsync();
        output.WriteLine("First run:\n" + Broker.Output);
        await Broker.DisposeAsync();
        _broker = await BrokerProcess.StartAsync(_dataDir.Path, Args(extra));
    }

    private MqttClientOptions Options(string clientId, string username, string password, bool cleanStart, uint sessionExpiry = 3600) =>
        new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, Broker.MqttPort)
            .WithClientId(clientId)
            .WithCredentials(username, password)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithCleanStart(cleanStart)
            .WithSessionExpiryInterval(sessionExpiry)
            .WithTimeout(TimeSpan.FromSeconds(15))
            .Build();

    private async Task<IMqttClient> ConnectAsync(string clientId, string username, string password, bool cleanStart, uint sessionExpiry = 3600)
    {
        var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(Options(clientId, username, password, cleanStart, sessionExpiry));
        return client;
    }

    private HttpClient Http()
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://{BrokerFixture.Host}:{Broker.HttpPort}/"), Timeout = TimeSpan.FromSeconds(15) };
        http.DefaultRequestHeaders.Add("X-Api-Key", ServiceApiKey);
        return http;
    }

    private async Task<string> PostCommandAsync(string name, string payload)
    {
        using var http = Http();
        using var posted = await http.PostAsync(new Uri($"api/devices/{_device}/commands/{name}?ttl=600", UriKind.Relative),
            new StringContent(payload, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
        return JsonDocument.Parse(await posted.Content.ReadAsStringAsync()).RootElement.GetProperty("commandId").GetString()!;
    }

    private static async Task<string> CommandStatusAsync(HttpClient http, string commandId) =>
        JsonDocument.Parse(await http.GetStringAsync(new Uri($"api/commands/{commandId}", UriKind.Relative))).RootElement.GetProperty("status").GetString()!;

    private async Task<double> MetricAsync(string name)
    {
        using var http = Http();
        var text = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
        var line = text.Split('\n').Single(l => l.StartsWith(name + " ", StringComparison.Ordinal));
        return double.Parse(line[(name.Length + 1)..], CultureInfo.InvariantCulture);
    }
}
