using System.Text;
using System.Text.Json;
using Iot.Broker.IntegrationTests.OpenApi.Generated;
using Iot.TestUtilities;

namespace Iot.Broker.IntegrationTests.OpenApi;

/// <summary>
/// The client NSwag generates from <c>docs/openapi/v1.json</c> at build time (the test project's
/// <c>GenerateIotApiClient</c> target) calls the real broker: what the document says is what the API does.
/// </summary>
[Collection(OpenApiCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class GeneratedClientTests(BrokerFixture broker) : IDisposable
{
    private readonly HttpClient _anonymousHttp = new() { Timeout = TimeSpan.FromSeconds(30) };

    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    [Fact]
    public async Task Client_CreatesListsAndGetsADevice_WithAServiceKey()
    {
        var client = await ServiceClientAsync();
        var id = TestIds.ClientId("oasdev");

        var created = await client.CreateDeviceAsync(new CreateDeviceRequest { Id = id, Role = "device" });
        var listed = await client.ListDevicesAsync();
        var fetched = await client.GetDeviceAsync(id);

        Assert.Equal(id, created.Id);
        Assert.Equal("device", created.Role);
        Assert.False(string.IsNullOrEmpty(created.Password));
        Assert.Null(created.ApiKey);
        Assert.Contains(listed, d => d.Id == id);
        Assert.Equal(id, fetched.Id);
        Assert.True(fetched.HasPassword);
        Assert.False(fetched.HasApiKey);
        Assert.True(fetched.Enabled);
    }

    [Fact]
    public async Task Client_SendsReceivesAndCompletesAQueueMessage()
    {
        var client = await ServiceClientAsync();
        var queue = TestIds.ClientId("oasq");
        var messageId = Guid.NewGuid().ToString("N");

        var created = await client.PutQueueAsync(queue, new QueueRequest { MaxDeliveryCount = 3 });
        await using var body = new MemoryStream(Encoding.UTF8.GetBytes("hello over OpenAPI"));
        var sent = await client.SendQueueMessageAsync(queue, messageId: messageId, subject: "greeting", body: new FileParameter(body, null, "text/plain"));
        var received = await client.ReceiveQueueMessagesAsync(queue, maxMessages: 10, maxWaitTime: 10);

        Assert.Equal(queue, created.Name);
        Assert.Equal(3, created.MaxDeliveryCount);
        Assert.False(sent.Duplicate);
        var message = Assert.Single(received.Value);
        Assert.Equal(sent.SequenceNumber, message.SequenceNumber);
        Assert.Equal(messageId, message.MessageId);
        Assert.Equal("greeting", message.Subject);
        Assert.Equal("text/plain", message.ContentType);
        Assert.Equal("hello over OpenAPI", ((JsonElement)message.Body).GetString());
        Assert.False(string.IsNullOrEmpty(message.LockToken));
        Assert.NotNull(message.LockedUntil);
        Assert.Equal(1, message.DeliveryCount);

        var settled = await client.CompleteQueueMessagesAsync(queue, new QueueSettleRequest { LockTokens = [message.LockToken] });

        Assert.Equal([message.LockToken], settled.SucceededLockTokens);
        Assert.Empty(settled.FailedLockTokens);
        var details = await client.GetQueueAsync(queue);
        Assert.Equal(0, details.Statistics.Active);
    }

    [Fact]
    public async Task Client_UnknownDevice_ThrowsTheProblemTheDocumentDescribes()
    {
        var client = await ServiceClientAsync();
        var id = TestIds.ClientId("oasnon");

        var problem = await Assert.ThrowsAsync<ApiException<ProblemDetails>>(() => client.GetDeviceAsync(id));

        Assert.Equal(404, problem.StatusCode);
        Assert.Equal(404, problem.Result.Status);
        Assert.Equal("Not found", problem.Result.Title);
        Assert.Contains(id, problem.Result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_InvalidKey_ThrowsTheUnauthorizedProblem()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Add("X-Api-Key", "not-a-key-" + Guid.NewGuid().ToString("N"));
        var client = new IotApiClient(broker.HttpBaseUri.ToString(), http);

        var problem = await Assert.ThrowsAsync<ApiException<ProblemDetails>>(() => client.ListQueuesAsync());

        Assert.Equal(401, problem.StatusCode);
        Assert.Equal(401, problem.Result.Status);
        Assert.Contains("API key", problem.Result.Detail, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _anonymousHttp.Dispose();
        _http.Dispose();
    }

    /// <summary>Creates a service identity (the shared broker allows anonymous access) and a client that sends its key.</summary>
    private async Task<IotApiClient> ServiceClientAsync()
    {
        var anonymous = new IotApiClient(broker.HttpBaseUri.ToString(), _anonymousHttp);
        var service = await anonymous.CreateDeviceAsync(new CreateDeviceRequest { Id = TestIds.ClientId("oassvc"), Role = "service" });
        Assert.False(string.IsNullOrEmpty(service.ApiKey));
        _http.DefaultRequestHeaders.Remove("X-Api-Key");
        _http.DefaultRequestHeaders.Add("X-Api-Key", service.ApiKey);
        return new IotApiClient(broker.HttpBaseUri.ToString(), _http);
    }
}
