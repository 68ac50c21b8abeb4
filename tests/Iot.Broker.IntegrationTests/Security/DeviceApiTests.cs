using System.Net;
using System.Net.Http.Json;
using System.Text;
using Iot.Broker.Security;
using Iot.Broker.Security.Identities;
using Iot.TestUtilities;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// <c>/api/devices</c> over HTTP with anonymous access off: API keys, roles, problem details, and the effect of
/// each change on MQTT authentication (through the broker's own <see cref="IIdentityAuthenticator"/>).
/// </summary>
[Collection(DeviceApiCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class DeviceApiTests(DeviceApiFixture broker) : IDisposable
{
    private static readonly Uri Devices = new("api/devices", UriKind.Relative);
    private readonly HttpClient _service = broker.CreateClient(DeviceApiFixture.ServiceKey);

    [Fact]
    public async Task Request_WithoutKey_401ProblemDetails()
    {
        using var anonymous = broker.CreateClient(apiKey: null);

        using var response = await anonymous.GetAsync(Devices);

        var detail = await ApiAssert.ProblemAsync(response, HttpStatusCode.Unauthorized);
        Assert.Contains("X-Api-Key", detail, StringComparison.Ordinal);
        Assert.Contains(response.Headers.WwwAuthenticate, h => h.Scheme == "Bearer");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Request_UnknownKey_401(bool asBearer)
    {
        using var client = broker.CreateClient("not-a-key-0123456789abcdef", asBearer);

        using var response = await client.GetAsync(Devices);

        await ApiAssert.ProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task HealthzAndMetrics_WithoutKey_StayOpen()
    {
        using var anonymous = broker.CreateClient(apiKey: null);

        using var healthz = await anonymous.GetAsync(new Uri("healthz", UriKind.Relative));
        using var metrics = await anonymous.GetAsync(new Uri("metrics", UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, healthz.StatusCode);
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
    }

    [Fact]
    public async Task Dashboard_Get200_Post403()
    {
        using var dashboard = broker.CreateClient(DeviceApiFixture.DashboardKey, asBearer: true);

        using var list = await dashboard.GetAsync(Devices);
        using var create = await dashboard.PostAsJsonAsync(Devices, new { id = TestIds.ClientId("dash") });

        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        var detail = await ApiAssert.ProblemAsync(create, HttpStatusCode.Forbidden);
        Assert.Contains("it-dash", detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DeviceKey_Get403()
    {
        using var device = broker.CreateClient(DeviceApiFixture.DeviceKey);

        using var response = await device.GetAsync(Devices);

        await ApiAssert.ProblemAsync(response, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Create_Device_201WithPasswordOnceAndLocation()
    {
        var id = TestIds.ClientId("create");

        using var response = await _service.PostAsJsonAsync(Devices, new { id });

        var created = await ApiAssert.JsonAsync(response, HttpStatusCode.Created);
        Assert.Equal(id, created.GetProperty("id").GetString());
        Assert.Equal("device", created.GetProperty("role").GetString());
        Assert.True(created.GetProperty("enabled").GetBoolean());
        Assert.False(string.IsNullOrEmpty(created.GetProperty("password").GetString()));
        Assert.False(created.TryGetProperty("apiKey", out _));
        Assert.Equal($"/api/devices/{id}", response.Headers.Location?.OriginalString);

        using var get = await _service.GetAsync(response.Headers.Location);
        var shown = await ApiAssert.JsonAsync(get, HttpStatusCode.OK);
        Assert.False(shown.TryGetProperty("password", out _));
        Assert.True(shown.GetProperty("hasPassword").GetBoolean());
        Assert.False(shown.GetProperty("hasApiKey").GetBoolean());
    }

    [Fact]
    public async Task Create_ThenAuthenticate_GeneratedPasswordWorksOverTheAuthenticator()
    {
        var id = TestIds.ClientId("auth");
        var password = await CreateAsync(id, "device");

        var outcome = await AuthenticateAsync(id, password);

        Assert.True(outcome.Succeeded, outcome.Failure);
        Assert.Equal(IdentityRole.Device, outcome.Role);
    }

    [Fact]
    public async Task Create_Service_ApiKeyWorksForTheApi()
    {
        var id = TestIds.ClientId("svc");
        using var response = await _service.PostAsJsonAsync(Devices, new { id, role = "service" });
        var created = await ApiAssert.JsonAsync(response, HttpStatusCode.Created);
        var apiKey = created.GetProperty("apiKey").GetString();

        using var client = broker.CreateClient(apiKey);
        using var list = await client.GetAsync(Devices);

        var identities = await ApiAssert.JsonAsync(list, HttpStatusCode.OK);
        Assert.Contains(identities.EnumerateArray(), d => d.GetProperty("id").GetString() == id && d.GetProperty("role").GetString() == "service");
        Assert.All(identities.EnumerateArray(), d => Assert.False(d.TryGetProperty("apiKey", out _) || d.TryGetProperty("password", out _)));
    }

    [Fact]
    public async Task Create_Duplicate_409()
    {
        var id = TestIds.ClientId("dup");
        await CreateAsync(id, "device");

        using var again = await _service.PostAsJsonAsync(Devices, new { id, role = "dashboard" });

        var detail = await ApiAssert.ProblemAsync(again, HttpStatusCode.Conflict);
        Assert.Contains(id, detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("a/b")]
    [InlineData("a+b")]
    [InlineData("a#")]
    [InlineData("")]
    public async Task Create_InvalidId_400(string id)
    {
        using var response = await _service.PostAsJsonAsync(Devices, new { id });

        await ApiAssert.ProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Create_TooLongIdOrUnknownRoleOrBadJson_400()
    {
        using var tooLong = await _service.PostAsJsonAsync(Devices, new { id = new string('x', 129) });
        using var badRole = await _service.PostAsJsonAsync(Devices, new { id = TestIds.ClientId("role"), role = "admin" });
        using var badJson = await _service.PostAsync(Devices, new StringContent("{\"id\":", Encoding.UTF8, "application/json"));
        using var notJson = await _service.PostAsync(Devices, new StringContent("id=x", Encoding.UTF8, "text/plain"));

        await ApiAssert.ProblemAsync(tooLong, HttpStatusCode.BadRequest);
        Assert.Contains("admin", await ApiAssert.ProblemAsync(badRole, HttpStatusCode.BadRequest), StringComparison.Ordinal);
        await ApiAssert.ProblemAsync(badJson, HttpStatusCode.BadRequest);
        await ApiAssert.ProblemAsync(notJson, HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task UnknownId_404OnEveryOperation()
    {
        var id = TestIds.ClientId("none");

        using var get = await _service.GetAsync(new Uri($"api/devices/{id}", UriKind.Relative));
        using var disable = await _service.PostAsync(new Uri($"api/devices/{id}/disable", UriKind.Relative), null);
        using var enable = await _service.PostAsync(new Uri($"api/devices/{id}/enable", UriKind.Relative), null);
        using var rotate = await _service.PostAsync(new Uri($"api/devices/{id}/credentials", UriKind.Relative), null);
        using var delete = await _service.DeleteAsync(new Uri($"api/devices/{id}", UriKind.Relative));

        foreach (var response in new[] { get, disable, enable, rotate, delete })
        {
            Assert.Contains(id, await ApiAssert.ProblemAsync(response, HttpStatusCode.NotFound), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task DisableEnable_AuthenticationFollows()
    {
        var id = TestIds.ClientId("dis");
        var password = await CreateAsync(id, "device");
        Assert.True((await AuthenticateAsync(id, password)).Succeeded);

        using var disable = await _service.PostAsync(new Uri($"api/devices/{id}/disable", UriKind.Relative), null);
        Assert.False((await ApiAssert.JsonAsync(disable, HttpStatusCode.OK)).GetProperty("enabled").GetBoolean());
        Assert.False((await AuthenticateAsync(id, password)).Succeeded);

        using var enable = await _service.PostAsync(new Uri($"api/devices/{id}/enable", UriKind.Relative), null);
        Assert.True((await ApiAssert.JsonAsync(enable, HttpStatusCode.OK)).GetProperty("enabled").GetBoolean());
        Assert.True((await AuthenticateAsync(id, password)).Succeeded);
    }

    [Fact]
    public async Task Disable_ServiceIdentity_ItsKeyGets401()
    {
        var id = TestIds.ClientId("dsvc");
        using var created = await _service.PostAsJsonAsync(Devices, new { id, role = "service" });
        var apiKey = (await ApiAssert.JsonAsync(created, HttpStatusCode.Created)).GetProperty("apiKey").GetString();
        using var client = broker.CreateClient(apiKey);

        using var disable = await _service.PostAsync(new Uri($"api/devices/{id}/disable", UriKind.Relative), null);
        Assert.Equal(HttpStatusCode.OK, disable.StatusCode);
        using var refused = await client.GetAsync(Devices);

        await ApiAssert.ProblemAsync(refused, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task RotateCredentials_OldPasswordAndKeyStopWorking()
    {
        var id = TestIds.ClientId("rot");
        using var created = await _service.PostAsJsonAsync(Devices, new { id, role = "service" });
        var first = await ApiAssert.JsonAsync(created, HttpStatusCode.Created);
        var oldPassword = first.GetProperty("password").GetString()!;
        Assert.True((await AuthenticateAsync(id, oldPassword)).Succeeded);

        using var rotate = await _service.PostAsync(new Uri($"api/devices/{id}/credentials", UriKind.Relative), null);
        var rotated = await ApiAssert.JsonAsync(rotate, HttpStatusCode.OK);
        var newPassword = rotated.GetProperty("password").GetString()!;

        Assert.NotEqual(oldPassword, newPassword);
        Assert.False((await AuthenticateAsync(id, oldPassword)).Succeeded);
        Assert.True((await AuthenticateAsync(id, newPassword)).Succeeded);
        using var oldKey = broker.CreateClient(first.GetProperty("apiKey").GetString());
        using var newKey = broker.CreateClient(rotated.GetProperty("apiKey").GetString());
        using var refused = await oldKey.GetAsync(Devices);
        using var accepted = await newKey.GetAsync(Devices);
        await ApiAssert.ProblemAsync(refused, HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
    }

    [Fact]
    public async Task Delete_GoneAndCannotAuthenticate()
    {
        var id = TestIds.ClientId("del");
        var password = await CreateAsync(id, "device");

        using var delete = await _service.DeleteAsync(new Uri($"api/devices/{id}", UriKind.Relative));
        using var get = await _service.GetAsync(new Uri($"api/devices/{id}", UriKind.Relative));

        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        await ApiAssert.ProblemAsync(get, HttpStatusCode.NotFound);
        Assert.False((await AuthenticateAsync(id, password)).Succeeded);
    }

    [Fact]
    public async Task Changes_RaiseIdentityChangedForTheMqttSide()
    {
        var id = TestIds.ClientId("evt");
        await CreateAsync(id, "device");
        var registry = broker.App.Services.GetRequiredService<IdentityRegistry>();
        var seen = new List<IdentityChangeKind>();
        var deleted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnChanged(IdentityChange change)
        {
            if (change.IdentityId == id)
            {
                lock (seen)
                {
                    seen.Add(change.Kind);
                }

                if (change.Kind == IdentityChangeKind.Deleted)
                {
                    deleted.TrySetResult();
                }
            }
        }

        registry.IdentityChanged += OnChanged;
        try
        {
            (await _service.PostAsync(new Uri($"api/devices/{id}/disable", UriKind.Relative), null)).Dispose();
            (await _service.PostAsync(new Uri($"api/devices/{id}/credentials", UriKind.Relative), null)).Dispose();
            (await _service.DeleteAsync(new Uri($"api/devices/{id}", UriKind.Relative))).Dispose();
            await deleted.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            registry.IdentityChanged -= OnChanged;
        }

        Assert.Equal([IdentityChangeKind.Disabled, IdentityChangeKind.CredentialsChanged, IdentityChangeKind.Deleted], seen);
    }

    [Fact]
    public async Task ConfiguredDevice_PasswordFromConfigurationAuthenticates()
    {
        var outcome = await AuthenticateAsync("it-dev", "it-device-password");

        Assert.True(outcome.Succeeded, outcome.Failure);
        Assert.False((await AuthenticateAsync("it-dev", "wrong")).Succeeded);
    }

    public void Dispose() => _service.Dispose();

    private async Task<string> CreateAsync(string id, string role)
    {
        using var response = await _service.PostAsJsonAsync(Devices, new { id, role });
        var created = await ApiAssert.JsonAsync(response, HttpStatusCode.Created);
        return created.GetProperty("password").GetString()!;
    }

    private ValueTask<AuthenticationOutcome> AuthenticateAsync(string id, string password) =>
        broker.App.Services.GetRequiredService<IIdentityAuthenticator>()
            .AuthenticatePasswordAsync(id, Encoding.UTF8.GetBytes(password), CancellationToken.None);
}
