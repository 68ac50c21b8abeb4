using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.Broker.IntegrationTests.Security;
using MQTTnet;

namespace Iot.Broker.IntegrationTests.Dashboard;

/// <summary><c>GET /api/clients</c> with anonymous access off: who may read it, and how an authenticated device is shown.</summary>
[Collection(DeviceApiCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClientApiSecurityTests(DeviceApiFixture broker)
{
    [Theory]
    [InlineData(null, HttpStatusCode.Unauthorized)]
    [InlineData("wrong-key", HttpStatusCode.Unauthorized)]
    [InlineData(DeviceApiFixture.DeviceKey, HttpStatusCode.Forbidden)]
    [InlineData(DeviceApiFixture.DashboardKey, HttpStatusCode.OK)]
    [InlineData(DeviceApiFixture.ServiceKey, HttpStatusCode.OK)]
    public async Task Clients_ByKey_OnlyServiceAndDashboardRead(string? key, HttpStatusCode expected)
    {
        using var http = broker.CreateClient(key);

        using var response = await http.GetAsync(new Uri("/api/clients", UriKind.Relative));

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task Dashboard_Page_ServedWithoutKeyWhileTheApiNeedsOne()
    {
        using var http = broker.CreateClient(null);

        using var page = await http.GetAsync(new Uri("/", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
    }

    [Fact]
    public async Task Clients_AuthenticatedDevice_ShownWithIdentityAndRole()
    {
        using var device = new MqttClientFactory().CreateMqttClient();
        var connected = await device.ConnectAsync(broker.CreateMqttClientOptionsBuilder("it-dev").WithCredentials("it-dev", "it-device-password").Build());
        Assert.Equal(MqttClientConnectResultCode.Success, connected.ResultCode);
        using var http = broker.CreateClient(DeviceApiFixture.DashboardKey);

        var list = await http.GetFromJsonAsync<JsonElement>(new Uri("/api/clients?prefix=it-dev", UriKind.Relative));

        var client = Assert.Single(list.GetProperty("clients").EnumerateArray());
        Assert.Equal("it-dev", client.GetProperty("clientId").GetString());
        Assert.Equal("it-dev", client.GetProperty("identity").GetString());
        Assert.Equal("device", client.GetProperty("role").GetString());
        await device.DisconnectAsync();
    }
}
