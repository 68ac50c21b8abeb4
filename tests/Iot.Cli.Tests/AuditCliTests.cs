using Iot.TestUtilities;

namespace Iot.Cli.Tests;

/// <summary><c>iot audit list</c> against a real broker: the change the CLI just made is the newest entry, with its actor.</summary>
[Collection(CliBrokerCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class AuditCliTests(CliBrokerFixture broker)
{
    [Fact]
    public async Task List_ShowsTheChangeJustMade_FiltersAndRefusesADashboardKey()
    {
        var queue = "audit-" + Guid.NewGuid().ToString("N")[..8];
        (await broker.IotAsync("queues", "create", queue)).ExpectExit(0);

        var entries = (await broker.IotAsync("audit", "list", "--action", "/api/queues", "--since", "10m", "--json")).ExpectExit(0).Json();
        var newest = entries.GetProperty("value").EnumerateArray().First();
        Assert.Equal(("cli-admin", "PUT /api/queues/{name}", $"name={queue}", 201),
            (newest.GetProperty("actor").GetString(), newest.GetProperty("action").GetString(), newest.GetProperty("target").GetString(), newest.GetProperty("status").GetInt32()));

        var table = (await broker.IotAsync("audit", "list", "--actor", "cli-admin", "--limit", "5")).ExpectExit(0);
        Assert.StartsWith("SEQ ", table.OutputLines[0], StringComparison.Ordinal);
        Assert.Contains(table.OutputLines, l => l.Contains($"name={queue}", StringComparison.Ordinal));

        var refused = (await CliProcess.RunAsync(null, "--url", broker.Url, "--api-key", broker.DashboardKey, "audit", "list")).ExpectExit(1);
        Assert.StartsWith("error: 403", refused.StandardError, StringComparison.Ordinal);
        Assert.StartsWith("error: --since", (await broker.IotAsync("audit", "list", "--since", "yesterday")).ExpectExit(2).StandardError, StringComparison.Ordinal);
    }
}
