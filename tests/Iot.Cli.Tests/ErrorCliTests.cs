using System.Net;
using System.Net.Sockets;
using Iot.TestUtilities;

namespace Iot.Cli.Tests;

/// <summary>How the CLI fails: the API's problem details on stderr and the documented exit codes.</summary>
[Collection(CliBrokerCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ErrorCliTests(CliBrokerFixture broker)
{
    [Fact]
    public async Task WrongApiKey_Exits1WithThe401Problem()
    {
        var result = (await CliProcess.RunAsync(null, "--url", broker.Url, "--api-key", "not-the-key-0123456789", "devices", "list")).ExpectExit(1);
        Assert.StartsWith("error: 401 Unauthorized: ", result.StandardError, StringComparison.Ordinal);
        Assert.Equal("", result.StandardOutput);

        var noKey = (await CliProcess.RunAsync(null, "--url", broker.Url, "queues", "list")).ExpectExit(1);
        Assert.Contains("401", noKey.StandardError, StringComparison.Ordinal);
        Assert.Contains("X-Api-Key", noKey.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DashboardKey_ReadsButMayNotChange_403()
    {
        (await CliProcess.RunAsync(null, "--url", broker.Url, "--api-key", broker.DashboardKey, "devices", "list")).ExpectExit(0);
        var result = (await CliProcess.RunAsync(null, "--url", broker.Url, "--api-key", broker.DashboardKey, "devices", "create", TestIds.ClientId("dash"))).ExpectExit(1);
        Assert.StartsWith("error: 403 ", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingResource_Exits1With404_JsonPrintsTheProblem()
    {
        var queue = TestIds.ClientId("noq");
        var result = (await broker.IotAsync("queues", "get", queue)).ExpectExit(1);
        Assert.Equal($"error: 404 Queue not found: There is no queue named '{queue}'.", result.StandardError.Trim());

        var json = (await broker.IotAsync("streams", "get", "no-such-stream", "--json")).ExpectExit(1).Json();
        Assert.Equal(404, json.GetProperty("status").GetInt32());
    }

    [Fact]
    public async Task UnreachableUrl_Exits3()
    {
        // A port nothing listens on: connection refused.
        var port = FreePorts.One();
        var result = (await CliProcess.RunAsync(null, "--url", $"http://127.0.0.1:{port}", "devices", "list")).ExpectExit(3);
        Assert.StartsWith($"error: Cannot reach http://127.0.0.1:{port}", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SilentServer_Exits3AfterTheTimeout()
    {
        // Accepts connections and never answers: the request's time limit ends it.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepted = new List<Socket>();
        using var stop = new CancellationTokenSource();
        var accepting = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                accepted.Add(await listener.AcceptSocketAsync(stop.Token));
            }
        });

        try
        {
            var result = (await CliProcess.RunAsync(null, "--url", $"http://127.0.0.1:{port}", "--timeout", "1s", "clients", "list")).ExpectExit(3);
            Assert.Contains("did not answer", result.StandardError, StringComparison.Ordinal);
        }
        finally
        {
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => accepting);
            accepted.ForEach(s => s.Dispose());
        }
    }

    [Theory]
    [InlineData("devices", "lst")]
    [InlineData("devices")]
    [InlineData("queues", "create")]
    [InlineData("commands", "wait", "x", "--wait", "soon")]
    [InlineData("--url", "ftp://example.com", "devices", "list")]
    public async Task UsageError_Exits2WithoutCallingTheApi(params string[] args)
    {
        var result = (await CliProcess.RunAsync(null, args)).ExpectExit(2);
        Assert.Contains("iot --help", result.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_ListsEveryCommandGroup()
    {
        var result = (await CliProcess.RunAsync(null, "--help")).ExpectExit(0);
        foreach (var group in new[] { "clients", "cluster", "commands", "devices", "metrics", "queues", "routes", "streams", "subscriptions" })
        {
            Assert.Contains(result.OutputLines, l => l.TrimStart().StartsWith(group + " ", StringComparison.Ordinal));
        }
    }
}
