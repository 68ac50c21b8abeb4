using System.Net;
using System.Net.Http.Json;
using Iot.Broker.Security.Identities;
using Iot.TestUtilities;
using Microsoft.Extensions.DependencyInjection;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>The API with <c>Iot:Security:AllowAnonymous=true</c>, and seeding across a restart.</summary>
[Trait("Category", "Integration")]
public sealed class DeviceApiAnonymousTests
{
    private static readonly Uri Devices = new("api/devices", UriKind.Relative);

    [Fact]
    public async Task AllowAnonymous_NoKey_ReadsAndWrites()
    {
        await using var broker = await BrokerFixture.StartAsync("--Iot:Security:PasswordIterations=1000");
        using var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(15) };

        using var create = await http.PostAsJsonAsync(Devices, new { id = "anon-dev" });
        using var list = await http.GetAsync(Devices);

        Assert.Equal(HttpStatusCode.Created, create.StatusCode);
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
    }

    [Fact]
    public async Task AllowAnonymous_InvalidOrDeviceKey_StillRefused()
    {
        await using var broker = await BrokerFixture.StartAsync(
            "--Iot:Security:PasswordIterations=1000",
            "--Iot:Security:Identities:0:Id=anon-device",
            "--Iot:Security:Identities:0:ApiKey=anon-device-key-0123456789");
        using var wrong = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(15) };
        wrong.DefaultRequestHeaders.Add("X-Api-Key", "wrong-key-0123456789abcdef");
        using var device = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(15) };
        device.DefaultRequestHeaders.Add("X-Api-Key", "anon-device-key-0123456789");

        using var unauthorized = await wrong.GetAsync(Devices);
        using var forbidden = await device.GetAsync(Devices);

        await ApiAssert.ProblemAsync(unauthorized, HttpStatusCode.Unauthorized);
        await ApiAssert.ProblemAsync(forbidden, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Seeding_Restart_KeepsApiCreatedIdentitiesAndAppliesNewConfiguredKey()
    {
        using var dataDir = new TempDirectory("iot-identities");
        string[] first =
        [
            $"--Iot:DataDir={dataDir.Path}",
            "--Iot:Security:AllowAnonymous=false",
            "--Iot:Security:PasswordIterations=1000",
            "--Iot:Security:Identities:0:Id=seed-svc",
            "--Iot:Security:Identities:0:Role=Service",
            "--Iot:Security:Identities:0:ApiKey=seed-key-one-0123456789",
        ];
        await using (var broker = await BrokerFixture.StartAsync(first))
        {
            using var http = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(15) };
            http.DefaultRequestHeaders.Add("X-Api-Key", "seed-key-one-0123456789");
            using var create = await http.PostAsJsonAsync(Devices, new { id = "kept-dev" });
            Assert.Equal(HttpStatusCode.Created, create.StatusCode);
        }

        string[] second = [.. first[..^1], "--Iot:Security:Identities:0:ApiKey=seed-key-two-0123456789"];
        await using (var broker = await BrokerFixture.StartAsync(second))
        {
            using var oldKey = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(15) };
            oldKey.DefaultRequestHeaders.Add("X-Api-Key", "seed-key-one-0123456789");
            using var newKey = new HttpClient { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(15) };
            newKey.DefaultRequestHeaders.Add("X-Api-Key", "seed-key-two-0123456789");

            using var refused = await oldKey.GetAsync(Devices);
            using var kept = await newKey.GetAsync(new Uri("api/devices/kept-dev", UriKind.Relative));

            await ApiAssert.ProblemAsync(refused, HttpStatusCode.Unauthorized);
            Assert.Equal(HttpStatusCode.OK, kept.StatusCode);
            Assert.Equal(2, broker.App.Services.GetRequiredService<IdentityRegistry>().Count);
        }
    }

    [Fact]
    public async Task Start_InvalidConfiguredIdentity_FailsNamingTheSetting()
    {
        var ex = await Assert.ThrowsAnyAsync<Exception>(() => BrokerFixture.StartAsync("--Iot:Security:Identities:0:Id=bad/id"));

        Assert.Contains("Iot:Security:Identities:0:Id", ex.ToString(), StringComparison.Ordinal);
    }
}
