using System.Net.Http.Headers;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// A broker with anonymous access off and three configured identities whose API keys the tests use: a service,
/// a dashboard and a device (a device key authenticates but the API refuses it).
/// </summary>
public sealed class DeviceApiFixture : BrokerFixture
{
    public const string ServiceKey = "it-service-key-0123456789abcdef";
    public const string DashboardKey = "it-dashboard-key-0123456789abcdef";
    public const string DeviceKey = "it-device-key-0123456789abcdef";

    public DeviceApiFixture()
        : base(
        [
            "--Iot:Security:AllowAnonymous=false",
            "--Iot:Security:PasswordIterations=1000",
            "--Iot:Security:Identities:0:Id=it-svc",
            "--Iot:Security:Identities:0:Role=Service",
            $"--Iot:Security:Identities:0:ApiKey={ServiceKey}",
            "--Iot:Security:Identities:1:Id=it-dash",
            "--Iot:Security:Identities:1:Role=Dashboard",
            $"--Iot:Security:Identities:1:ApiKey={DashboardKey}",
            "--Iot:Security:Identities:2:Id=it-dev",
            "--Iot:Security:Identities:2:Role=Device",
            "--Iot:Security:Identities:2:Password=it-device-password",
            $"--Iot:Security:Identities:2:ApiKey={DeviceKey}",
        ])
    {
    }

    /// <summary>An HTTP client of this broker that sends <paramref name="apiKey"/> (none when null).</summary>
    public HttpClient CreateClient(string? apiKey, bool asBearer = false)
    {
        var http = new HttpClient { BaseAddress = HttpBaseUri, Timeout = TimeSpan.FromSeconds(15) };
        if (apiKey is not null)
        {
            if (asBearer)
            {
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
            }
            else
            {
                http.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
            }
        }

        return http;
    }
}

/// <summary>The broker the device API tests share.</summary>
[CollectionDefinition(Name)]
public sealed class DeviceApiCollectionDefinition : ICollectionFixture<DeviceApiFixture>
{
    public const string Name = "device API";
}
