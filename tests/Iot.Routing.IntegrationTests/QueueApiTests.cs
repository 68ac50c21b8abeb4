using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Iot.Routing.IntegrationTests;

[Trait("Category", "Integration")]
#pragma warning disable CA1001 // Disposed in DisposeAsync (IAsyncLifetime).
public sealed class QueueApiTests : IAsyncLifetime
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

    private async Task<HttpResponseMessage> PutQueueAsync(string name, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        return await _host.Http.PutAsync("queues/" + name, content);
    }

    private async Task<JsonElement> ReceiveAsync(string queue, string query = "")
    {
        var (status, body) = await _host.PostJsonAsync($"queues/{queue}/messages:receive{query}", "");
        Assert.Equal(200, status);
        return body.GetProperty("value");
    }

    [Fact]
    public async Task Queue_CreateSendReceiveComplete_RoundTrip()
    {
        using (var created = await PutQueueAsync("orders", """{"lockDuration":"00:00:30","maxDeliveryCount":5}"""))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        var (status, sent) = await _host.PostJsonAsync("queues/orders/messages?messageId=o-1&priority=2", """{"item":"bolt"}""");
        Assert.Equal(201, status);
        Assert.False(sent.GetProperty("duplicate").GetBoolean());
        (status, var duplicate) = await _host.PostJsonAsync("queues/orders/messages?messageId=o-1", """{"item":"bolt"}""");
        Assert.Equal(200, status);
        Assert.True(duplicate.GetProperty("duplicate").GetBoolean());

        var message = Assert.Single((await ReceiveAsync("orders")).EnumerateArray());
        Assert.Equal("bolt", message.GetProperty("body").GetProperty("item").GetString());
        Assert.Equal(1, message.GetProperty("deliveryCount").GetInt32());
        var token = message.GetProperty("lockToken").GetString();

        (status, var settled) = await _host.PostJsonAsync("queues/orders/messages:complete", $$"""{"lockTokens":["{{token}}"]}""");
        Assert.Equal(200, status);
        Assert.Equal(token, settled.GetProperty("succeededLockTokens")[0].GetString());
        (_, settled) = await _host.PostJsonAsync("queues/orders/messages:complete", $$"""{"lockTokens":["{{token}}"]}""");
        Assert.Equal(1, settled.GetProperty("failedLockTokens").GetArrayLength());
        Assert.Empty((await ReceiveAsync("orders")).EnumerateArray());

        var queue = await _host.GetJsonAsync("queues/orders");
        Assert.Equal(0, queue.GetProperty("statistics").GetProperty("active").GetInt64());
        Assert.Equal(5, queue.GetProperty("queue").GetProperty("maxDeliveryCount").GetInt32());
    }

    [Fact]
    public async Task DeadLetter_WithReason_ReadableFromDeadLetterQueue()
    {
        (await PutQueueAsync("jobs", "{}")).Dispose();
        await _host.PostJsonAsync("queues/jobs/messages", "\"x\"");
        var token = (await ReceiveAsync("jobs"))[0].GetProperty("lockToken").GetString();
        var (status, _) = await _host.PostJsonAsync("queues/jobs/messages:deadLetter",
            $$"""{"lockTokens":["{{token}}"],"deadLetterReason":"Poison","deadLetterErrorDescription":"cannot parse"}""");
        Assert.Equal(200, status);

        var dead = (await _host.GetJsonAsync("queues/jobs/deadletter")).GetProperty("value");
        Assert.Equal("Poison", dead[0].GetProperty("deadLetterReason").GetString());
        Assert.Equal("cannot parse", dead[0].GetProperty("deadLetterErrorDescription").GetString());
    }

    [Fact]
    public async Task Sessions_AcceptReceiveAndState()
    {
        (await PutQueueAsync("wf", """{"requiresSession":true}""")).Dispose();
        var (status, _) = await _host.PostJsonAsync("queues/wf/messages", "\"no session\"");
        Assert.Equal(400, status);
        await _host.PostJsonAsync("queues/wf/messages?sessionId=order-7", "\"step1\"");
        await _host.PostJsonAsync("queues/wf/messages?sessionId=order-7", "\"step2\"");

        var (acceptStatus, session) = await _host.PostJsonAsync("queues/wf/sessions:accept", "");
        Assert.Equal(200, acceptStatus);
        Assert.Equal("order-7", session.GetProperty("sessionId").GetString());
        var lockToken = session.GetProperty("lockToken").GetString();
        (status, _) = await _host.PostJsonAsync("queues/wf/sessions:accept?sessionId=order-7", "");
        Assert.Equal(409, status);

        var messages = await ReceiveAsync("wf", $"?maxMessages=10&sessionId=order-7&sessionLockToken={lockToken}");
        Assert.Equal(["step1", "step2"], messages.EnumerateArray().Select(m => m.GetProperty("body").GetString()));

        using (var content = new ByteArrayContent(Encoding.UTF8.GetBytes("checkpoint-2")))
        using (var put = await _host.Http.PutAsync($"queues/wf/sessions/order-7/state?lockToken={lockToken}", content))
        {
            Assert.Equal(HttpStatusCode.NoContent, put.StatusCode);
        }

        Assert.Equal("checkpoint-2", await _host.Http.GetStringAsync("queues/wf/sessions/order-7/state"));
    }

    [Fact]
    public async Task Receive_MaxWaitTime_ReturnsWhenAMessageIsSent()
    {
        (await PutQueueAsync("poll", "{}")).Dispose();
        var receiving = ReceiveAsync("poll", "?maxWaitTime=30");
        await _host.PostJsonAsync("queues/poll/messages", "\"late\"");
        var messages = await receiving.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal("late", Assert.Single(messages.EnumerateArray()).GetProperty("body").GetString());
    }

    [Fact]
    public async Task UnknownQueue_ProblemDetails404()
    {
        using var response = await _host.Http.PostAsync("queues/missing/messages", new StringContent("{}"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("missing", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Route_ToQueue_MqttMessagesBecomeQueueMessages()
    {
        (await PutQueueAsync("telemetry-work", "{}")).Dispose();
        using (var content = new StringContent("""{"source":"devices/+/telemetry","destination":{"kind":"commandQueue","name":"telemetry-work"}}""",
            Encoding.UTF8, "application/json"))
        using (var put = await _host.Http.PutAsync("routes/to-queue", content))
        {
            Assert.True(put.IsSuccessStatusCode, await put.Content.ReadAsStringAsync());
        }

        await _host.PublishAsync("devices/d1/telemetry", """{"t":21.5}""");
        var message = Assert.Single((await ReceiveAsync("telemetry-work")).EnumerateArray());
        Assert.Equal("devices/d1/telemetry", message.GetProperty("subject").GetString());
        Assert.Equal(21.5, message.GetProperty("body").GetProperty("t").GetDouble());
    }

    [Fact]
    public async Task Route_ToUnknownQueue_Rejected()
    {
        using var content = new StringContent("""{"source":"#","destination":{"kind":"commandQueue","name":"nope"}}""", Encoding.UTF8, "application/json");
        using var put = await _host.Http.PutAsync("routes/bad", content);
        Assert.Equal(HttpStatusCode.BadRequest, put.StatusCode);
    }
}
