using System.Globalization;
using Iot.Broker.IntegrationTests.Protocol;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// The production default: no anonymous clients; devices confined to their own topics; dashboards read aggregates;
/// services command devices and read everything. Through mosquitto_pub/sub and MQTTnet over TCP and WebSocket.
/// </summary>
[Trait("Category", "Integration")]
public sealed class MqttAccessTests : IAsyncLifetime
{
    private const string DevicePassword = "dev-secret-1";
    private const string ServiceApiKey = "svc-api-key-0123456789abcdef";
    private BrokerFixture _broker = null!;
    private readonly string _dev1 = "dev1-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _dev2 = "dev2-" + Guid.NewGuid().ToString("N")[..8];

    public async Task InitializeAsync()
    {
        _broker = await BrokerFixture.StartAsync(
            "--Iot:Security:AllowAnonymous=false",
            $"--Iot:Security:Identities:0:Id={_dev1}", "--Iot:Security:Identities:0:Role=Device", $"--Iot:Security:Identities:0:Password={DevicePassword}",
            $"--Iot:Security:Identities:1:Id={_dev2}", "--Iot:Security:Identities:1:Role=Device", $"--Iot:Security:Identities:1:Password={DevicePassword}",
            "--Iot:Security:Identities:2:Id=dash", "--Iot:Security:Identities:2:Role=Dashboard", "--Iot:Security:Identities:2:Password=dash-secret",
            "--Iot:Security:Identities:3:Id=svc", "--Iot:Security:Identities:3:Role=Service", "--Iot:Security:Identities:3:Password=svc-secret",
            $"--Iot:Security:Identities:3:ApiKey={ServiceApiKey}");
    }

    public async Task DisposeAsync() => await _broker.DisposeAsync();

    [Fact]
    public async Task Anonymous_IsRefusedByDefault_WrongPasswordToo_RightPasswordWorks()
    {
        var port = _broker.MqttPort.ToString(CultureInfo.InvariantCulture);
        var anonymous = await ExternalClients.MosquittoPubAsync("-h", "127.0.0.1", "-p", port, "-t", $"devices/{_dev1}/telemetry", "-m", "x", "-V", "mqttv311");
        Assert.NotEqual(0, anonymous.ExitCode);

        var wrong = await ExternalClients.MosquittoPubAsync("-h", "127.0.0.1", "-p", port, "-i", _dev1, "-u", _dev1, "-P", "not-it", "-t", $"devices/{_dev1}/telemetry", "-m", "x", "-V", "mqttv5");
        Assert.NotEqual(0, wrong.ExitCode);

        var right = await ExternalClients.MosquittoPubAsync("-h", "127.0.0.1", "-p", port, "-i", _dev1, "-u", _dev1, "-P", DevicePassword, "-t", $"devices/{_dev1}/telemetry", "-m", "x", "-q", "1", "-V", "mqttv5");
        Assert.True(right.ExitCode == 0, right.ToString());
    }

    [Fact]
    public async Task Device_PublishesOnlyUnderItsOwnTopics_Mqtt5GetsNotAuthorized()
    {
        await using var service = await Connect("svc", "svc-secret");
        await service.SubscribeAsync("devices/#");
        await using var device = await Connect(_dev1, DevicePassword);

        var own = await device.PublishAsync($"devices/{_dev1}/telemetry", "{\"t\":1}");
        Assert.Equal(MqttClientPublishReasonCode.Success, own.ReasonCode);
        var other = await device.PublishAsync($"devices/{_dev2}/telemetry", "{\"t\":2}");
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, other.ReasonCode);

        Assert.Equal($"devices/{_dev1}/telemetry", (await service.ReceiveAsync()).Topic);
        Assert.Null(await service.TryReceiveAsync(TimeSpan.FromMilliseconds(500)));
    }

    [Fact]
    public async Task Device_Mqtt311_DeniedPublishIsDroppedAndCounted()
    {
        await using var service = await Connect("svc", "svc-secret");
        await service.SubscribeAsync($"devices/{_dev2}/#");
        await using var device = await Connect(_dev1, DevicePassword, MqttProtocolVersion.V311);
        await device.PublishAsync($"devices/{_dev2}/telemetry", "spoofed");
        Assert.Null(await service.TryReceiveAsync(TimeSpan.FromMilliseconds(500)));
        using var http = new HttpClient { BaseAddress = _broker.HttpBaseUri };
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Matches(@"iot_mqtt_publish_denied_total [1-9]", metrics);
    }

    [Fact]
    public async Task Device_SubscribesOnlyToItsOwnCommands()
    {
        await using var device = await Connect(_dev1, DevicePassword);
        var result = await device.Client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter($"devices/{_dev1}/commands/#")
            .WithTopicFilter($"devices/{_dev2}/commands/#")
            .WithTopicFilter("devices/+/telemetry")
            .WithTopicFilter("#")
            .Build());
        Assert.Equal(
            [MqttClientSubscribeResultCode.GrantedQoS0, MqttClientSubscribeResultCode.NotAuthorized, MqttClientSubscribeResultCode.NotAuthorized, MqttClientSubscribeResultCode.NotAuthorized],
            result.Items.Select(i => i.ResultCode));
    }

    [Fact]
    public async Task Device_CannotUseAnotherDevicesClientId()
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        var result = await client.ConnectAsync(_broker.CreateMqttClientOptionsBuilder(_dev2).WithCredentials(_dev1, DevicePassword).Build());
        Assert.Equal(MqttClientConnectResultCode.NotAuthorized, result.ResultCode);
    }

    [Fact]
    public async Task Service_CommandsADevice_DashboardOnlyReadsAggregates()
    {
        await using var device = await Connect(_dev1, DevicePassword);
        await device.SubscribeAsync($"devices/{_dev1}/commands/#");
        await using var service = await Connect("svc", "svc-secret");
        var sent = await service.PublishAsync($"devices/{_dev1}/commands/reboot/c-1", "{}");
        Assert.Equal(MqttClientPublishReasonCode.Success, sent.ReasonCode);
        Assert.Equal($"devices/{_dev1}/commands/reboot/c-1", (await device.ReceiveAsync()).Topic);

        await using var dashboard = await Connect("dash", "dash-secret");
        var subscribed = await dashboard.Client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter("aggregates/#").WithTopicFilter("devices/#").Build());
        Assert.Equal([MqttClientSubscribeResultCode.GrantedQoS0, MqttClientSubscribeResultCode.NotAuthorized], subscribed.Items.Select(i => i.ResultCode));
        var write = await dashboard.PublishAsync("aggregates/telemetry/1m/x", "{}");
        Assert.Equal(MqttClientPublishReasonCode.NotAuthorized, write.ReasonCode);
    }

    [Fact]
    public async Task WebSocket_DeviceCannotReadAnotherDevicesCommands()
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithWebSocketServer(o => o.WithUri(_broker.WebSocketUri.ToString()))
            .WithClientId(_dev1).WithCredentials(_dev1, DevicePassword).WithProtocolVersion(MqttProtocolVersion.V500).Build());
        var result = await client.SubscribeAsync($"devices/{_dev2}/commands/#");
        Assert.Equal(MqttClientSubscribeResultCode.NotAuthorized, Assert.Single(result.Items).ResultCode);
        await client.DisconnectAsync();
    }

    [Fact]
    public async Task DisablingAnIdentity_ClosesItsLiveConnection_AndRefusesReconnects()
    {
        await using var device = await Connect(_dev1, DevicePassword);
        var disconnected = new TaskCompletionSource<MqttClientDisconnectedEventArgs>(TaskCreationOptions.RunContinuationsAsynchronously);
        device.Client.DisconnectedAsync += e =>
        {
            disconnected.TrySetResult(e);
            return Task.CompletedTask;
        };

        using var http = new HttpClient { BaseAddress = _broker.HttpBaseUri };
        http.DefaultRequestHeaders.Add("X-Api-Key", ServiceApiKey);
        using var response = await http.PostAsync(new Uri($"/api/devices/{_dev1}/disable", UriKind.Relative), null);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());

        var e = await disconnected.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(MqttClientDisconnectReason.NotAuthorized, e.Reason);
        using var again = new MqttClientFactory().CreateMqttClient();
        var result = await again.ConnectAsync(_broker.CreateMqttClientOptionsBuilder(_dev1).WithCredentials(_dev1, DevicePassword).Build());
        Assert.Equal(MqttClientConnectResultCode.BadUserNameOrPassword, result.ResultCode);
    }

    private Task<TestClient> Connect(string id, string password, MqttProtocolVersion version = MqttProtocolVersion.V500) =>
        TestClient.ConnectAsync(_broker, id, o => o.WithCredentials(id, password), version);
}
