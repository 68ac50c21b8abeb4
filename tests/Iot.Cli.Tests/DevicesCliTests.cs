using Iot.TestUtilities;

namespace Iot.Cli.Tests;

/// <summary><c>iot devices</c> against a real broker: tables for people, the API's JSON with <c>--json</c>.</summary>
[Collection(CliBrokerCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class DevicesCliTests(CliBrokerFixture broker)
{
    [Fact]
    public async Task CreateListDisableRotateDelete_TablesJsonAndExitCodes()
    {
        var id = TestIds.ClientId("dev");

        var created = (await broker.IotAsync("devices", "create", id)).ExpectExit(0);
        Assert.Equal(id, created.Property("Id"));
        Assert.Equal("device", created.Property("Role"));
        var password = created.Property("Password");
        Assert.True(password.Length >= 16, created.ToString());
        Assert.Contains("shown once", created.StandardOutput, StringComparison.Ordinal);

        // The table: an upper-case header, aligned columns (each cell starts where its header starts).
        var list = (await broker.IotAsync("devices", "list")).ExpectExit(0);
        var header = list.OutputLines[0];
        Assert.StartsWith("ID ", header, StringComparison.Ordinal);
        var row = list.OutputLines.Single(l => l.StartsWith(id + " ", StringComparison.Ordinal));
        Assert.Equal(header.IndexOf("ROLE", StringComparison.Ordinal), row.IndexOf("device", StringComparison.Ordinal));
        Assert.Equal(header.IndexOf("ENABLED", StringComparison.Ordinal), row.IndexOf("true", StringComparison.Ordinal));
        Assert.Contains(list.OutputLines, l => l.StartsWith("cli-admin ", StringComparison.Ordinal));

        var json = (await broker.IotAsync("devices", "list", "--json")).ExpectExit(0).Json();
        var device = json.EnumerateArray().Single(d => d.GetProperty("id").GetString() == id);
        Assert.True(device.GetProperty("hasPassword").GetBoolean());
        Assert.False(device.TryGetProperty("password", out _));

        var disabled = (await broker.IotAsync("devices", "disable", id, "--json")).ExpectExit(0).Json();
        Assert.False(disabled.GetProperty("enabled").GetBoolean());
        Assert.Equal("false", (await broker.IotAsync("devices", "get", id)).ExpectExit(0).Property("Enabled"));
        Assert.Equal("true", (await broker.IotAsync("devices", "enable", id)).ExpectExit(0).Property("Enabled"));

        var rotated = (await broker.IotAsync("devices", "rotate", id, "--json")).ExpectExit(0).Json();
        Assert.NotEqual(password, rotated.GetProperty("password").GetString());

        var deleted = (await broker.IotAsync("devices", "delete", id)).ExpectExit(0);
        Assert.Contains($"Deleted identity '{id}'", deleted.StandardOutput, StringComparison.Ordinal);
        var missing = (await broker.IotAsync("devices", "get", id)).ExpectExit(1);
        Assert.Equal($"error: 404 Not found: There is no identity with the id '{id}'.", missing.StandardError.Trim());
        Assert.Equal("", missing.StandardOutput);
    }

    [Fact]
    public async Task CreateService_PrintsApiKeyThatTheCliCanUse()
    {
        var id = TestIds.ClientId("svc");
        var created = (await broker.IotAsync("devices", "create", id, "--role", "service", "--json")).ExpectExit(0).Json();
        var key = created.GetProperty("apiKey").GetString()!;

        // The new key works, taken from the environment this time (IOT_URL, IOT_API_KEY).
        var listed = (await CliProcess.RunAsync(new Dictionary<string, string?> { ["IOT_URL"] = broker.Url, ["IOT_API_KEY"] = key }, "devices", "get", id))
            .ExpectExit(0);
        Assert.Equal("service", listed.Property("Role"));
        (await broker.IotAsync("devices", "delete", id)).ExpectExit(0);
    }
}
