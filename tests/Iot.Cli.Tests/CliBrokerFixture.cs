using System.Security.Cryptography;
using Iot.TestUtilities;

namespace Iot.Cli.Tests;

/// <summary>
/// A real broker (in process, free ports, its own data directory) with anonymous access off and two identities
/// seeded from configuration: a service whose API key the CLI uses, and a dashboard (read-only key). Each fixture
/// makes new random keys.
/// </summary>
public sealed class CliBrokerFixture : BrokerFixture
{
    public CliBrokerFixture()
        : this(NewKey(), NewKey())
    {
    }

    private CliBrokerFixture(string serviceKey, string dashboardKey)
        : base(
        [
            "--Iot:Security:AllowAnonymous=false",
            "--Iot:Security:Identities:0:Id=cli-admin",
            "--Iot:Security:Identities:0:Role=Service",
            $"--Iot:Security:Identities:0:ApiKey={serviceKey}",
            "--Iot:Security:Identities:1:Id=cli-viewer",
            "--Iot:Security:Identities:1:Role=Dashboard",
            $"--Iot:Security:Identities:1:ApiKey={dashboardKey}",
        ])
    {
        ServiceKey = serviceKey;
        DashboardKey = dashboardKey;
    }

    /// <summary>The service identity's API key.</summary>
    public string ServiceKey { get; }

    /// <summary>The dashboard identity's API key (GET only).</summary>
    public string DashboardKey { get; }

    /// <summary><c>http://127.0.0.1:{port}</c>.</summary>
    public string Url => $"http://{Host}:{HttpPort}";

    /// <summary>Runs the CLI against this broker with the service key (<c>--url</c>, <c>--api-key</c> before <paramref name="args"/>).</summary>
    public Task<ProcessResult> IotAsync(params string[] args) => CliProcess.RunAsync(null, ["--url", Url, "--api-key", ServiceKey, .. args]);

    private static string NewKey() => Convert.ToHexString(RandomNumberGenerator.GetBytes(24));
}

/// <summary>The tests that share one <see cref="CliBrokerFixture"/>.</summary>
[CollectionDefinition(Name)]
public sealed class CliBrokerCollectionDefinition : ICollectionFixture<CliBrokerFixture>
{
    public const string Name = "cli broker";
}
