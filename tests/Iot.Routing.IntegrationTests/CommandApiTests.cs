using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Iot.Routing.IntegrationTests;

/// <summary>The command API without a broker: commands queue and the HTTP contract holds (delivery: unit and broker tests).</summary>
[Trait("Category", "Integration")]
#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
public sealed class CommandApiTests : IAsyncLifetime
#pragma warning restore CA1001
{
    private readonly TestDirectory _directory = new();
    private RoutingTestHost _host = null!;

    public async Task InitializeAsync() => _host = await RoutingTestHost.StartAsync(_directory.Path);

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _directory.Dispose();
    }

    [Fact]
    public async Task Post_NoWait_202WithLocation_GetShowsQueued()
    {
        using var content = new StringContent("""{"level":3}""", Encoding.UTF8, "application/json");
        using var response = await _host.Http.PostAsync("devices/dev-1/commands/setLevel?ttl=3600", content);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var commandId = body.GetProperty("commandId").GetString();
        Assert.Equal($"/api/commands/{commandId}", response.Headers.Location!.OriginalString);

        var command = await _host.GetJsonAsync($"commands/{commandId}");
        Assert.Equal("Queued", command.GetProperty("status").GetString());
        Assert.Equal("dev-1", command.GetProperty("deviceId").GetString());
        Assert.Equal("setLevel", command.GetProperty("name").GetString());
        Assert.Equal(0, command.GetProperty("deliveryCount").GetInt32());
    }

    [Fact]
    public async Task Post_WaitEndsFirst_504AndCommandStaysQueued()
    {
        var (status, problem) = await _host.PostJsonAsync("devices/dev-2/commands/ping?wait=0.2", "{}");
        Assert.Equal(504, status);
        var commandId = problem.GetProperty("commandId").GetString();
        Assert.Equal("Queued", (await _host.GetJsonAsync($"commands/{commandId}")).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Post_SameMessageId_SameCommand()
    {
        var (_, first) = await _host.PostJsonAsync("devices/dev-3/commands/ping?messageId=op-42", "{}");
        var (_, second) = await _host.PostJsonAsync("devices/dev-3/commands/ping?messageId=op-42", "{}");
        Assert.Equal(first.GetProperty("commandId").GetString(), second.GetProperty("commandId").GetString());
        var queue = await _host.GetJsonAsync("queues/$commands");
        Assert.Equal(1, queue.GetProperty("statistics").GetProperty("active").GetInt64());
    }

    [Fact]
    public async Task Answer_PublishedOnResponseTopic_CompletesCommand()
    {
        var (_, sent) = await _host.PostJsonAsync("devices/dev-4/commands/read", "{}");
        var commandId = sent.GetProperty("commandId").GetString();
        await _host.PublishAsync($"devices/dev-4/responses/{commandId}", """{"status":"ok","value":7}""");
        var command = await _host.GetJsonAsync($"commands/{commandId}");
        Assert.Equal("Completed", command.GetProperty("status").GetString());
        Assert.Equal(7, command.GetProperty("answer").GetProperty("value").GetInt32());
    }

    [Theory]
    [InlineData("devices/dev-5/commands/ping?ttl=0")]
    [InlineData("devices/dev-5/commands/ping?wait=-1")]
    [InlineData("devices/dev-5/commands/ping?replyQueue=none")]
    [InlineData("devices/a+b/commands/ping")]
    public async Task Post_InvalidRequest_400(string path)
    {
        var (status, problem) = await _host.PostJsonAsync(path, "{}");
        Assert.Equal(400, status);
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("detail").GetString()));
    }

    [Fact]
    public async Task Get_UnknownCommand_404()
    {
        using var response = await _host.Http.GetAsync("commands/nope");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
