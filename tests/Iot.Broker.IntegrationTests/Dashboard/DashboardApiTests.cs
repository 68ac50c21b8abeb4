using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.Streams.Aggregation;
using Iot.TestUtilities;
using Microsoft.Extensions.DependencyInjection;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Iot.Broker.IntegrationTests.Dashboard;

/// <summary>The broker the dashboard's HTTP tests share.</summary>
[CollectionDefinition(Name)]
public sealed class DashboardCollectionDefinition : ICollectionFixture<BrokerFixture>
{
    public const string Name = "dashboard";
}

/// <summary>What the dashboard reads: the page itself, <c>GET /api/clients</c> and the aggregates' replay on connect.</summary>
[Collection(DashboardCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class DashboardApiTests(BrokerFixture broker) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = broker.HttpBaseUri, Timeout = TimeSpan.FromSeconds(15) };

    public void Dispose() => _http.Dispose();

    [Theory]
    [InlineData("/", "text/html")]
    [InlineData("/dashboard/dashboard.js", "text/javascript")]
    [InlineData("/dashboard/dashboard.css", "text/css")]
    public async Task Dashboard_Files_ServedWithoutKeyWithContentTypeAndETag(string path, string mediaType)
    {
        using var response = await _http.GetAsync(new Uri(path, UriKind.Relative));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(mediaType, response.Content.Headers.ContentType?.MediaType);
        Assert.True(response.Headers.CacheControl?.NoCache, "Cache-Control: no-cache");
        Assert.NotNull(response.Headers.ETag);
        Assert.NotEmpty(await response.Content.ReadAsByteArrayAsync());

        using var again = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        again.Headers.IfNoneMatch.Add(response.Headers.ETag);
        using var revalidated = await _http.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, revalidated.StatusCode);

        using var head = new HttpRequestMessage(HttpMethod.Head, new Uri(path, UriKind.Relative));
        using var headers = await _http.SendAsync(head);
        Assert.Equal(HttpStatusCode.OK, headers.StatusCode);
        Assert.Equal(response.Headers.ETag, headers.Headers.ETag);
    }

    [Fact]
    public async Task Dashboard_Index_ReferencesOnlyEmbeddedFiles()
    {
        var html = await _http.GetStringAsync(new Uri("/", UriKind.Relative));
        foreach (var file in Iot.Broker.Dashboard.DashboardEndpoints.FileNames)
        {
            using var response = await _http.GetAsync(new Uri(file == "index.html" ? "/" : "/dashboard/" + file, UriKind.Relative));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Contains("/dashboard/dashboard.js", html, StringComparison.Ordinal);
        Assert.Contains("/dashboard/dashboard.css", html, StringComparison.Ordinal);
        using var missing = await _http.GetAsync(new Uri("/dashboard/nope.js", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    [Fact]
    public async Task Clients_ConnectedClients_ListedWithProtocolSubscriptionsAndEndpoint()
    {
        var prefix = TestIds.ClientId("cli");
        using var v5 = new MqttClientFactory().CreateMqttClient();
        using var v311 = new MqttClientFactory().CreateMqttClient();
        await v5.ConnectAsync(broker.CreateMqttClientOptions(prefix + "-a"));
        await v311.ConnectAsync(broker.CreateMqttClientOptions(prefix + "-b", MqttProtocolVersion.V311));
        await v5.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(TestIds.Topic("c1"), MqttQualityOfServiceLevel.AtLeastOnce)
            .WithTopicFilter(TestIds.Topic("c2"))
            .Build());

        var list = await GetClientsAsync($"?prefix={prefix}");

        Assert.Equal(2, list.GetProperty("connected").GetInt32());
        Assert.True(list.GetProperty("sessions").GetInt32() >= 2);
        Assert.False(list.GetProperty("truncated").GetBoolean());
        var clients = list.GetProperty("clients").EnumerateArray().ToArray();
        Assert.Equal([prefix + "-a", prefix + "-b"], clients.Select(c => c.GetProperty("clientId").GetString()));
        Assert.Equal("5.0", clients[0].GetProperty("protocolVersion").GetString());
        Assert.Equal("3.1.1", clients[1].GetProperty("protocolVersion").GetString());
        Assert.Equal(2, clients[0].GetProperty("subscriptions").GetInt32());
        Assert.Equal(0, clients[1].GetProperty("subscriptions").GetInt32());
        Assert.Equal(JsonValueKind.Null, clients[0].GetProperty("identity").ValueKind);
        Assert.Equal(30, clients[0].GetProperty("keepAliveSeconds").GetInt32());
        Assert.Contains("127.0.0.1", clients[0].GetProperty("remoteEndPoint").GetString(), StringComparison.Ordinal);
        var since = clients[0].GetProperty("connectedAt").GetDateTimeOffset();
        Assert.InRange(since, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddSeconds(1));

        await v311.DisconnectAsync();
        await Eventually.WaitForAsync(() => GetClientsAsync($"?prefix={prefix}"), l => l.GetProperty("connected").GetInt32() == 1,
            TimeSpan.FromSeconds(10), "the disconnected client leaves the list");
    }

    [Fact]
    public async Task Clients_Limit_TruncatesButCountsAll()
    {
        var prefix = TestIds.ClientId("lim");
        var clients = new List<IMqttClient>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                var client = new MqttClientFactory().CreateMqttClient();
                clients.Add(client);
                await client.ConnectAsync(broker.CreateMqttClientOptions($"{prefix}-{i}"));
            }

            var list = await GetClientsAsync($"?prefix={prefix}&limit=2");

            Assert.Equal(3, list.GetProperty("connected").GetInt32());
            Assert.True(list.GetProperty("truncated").GetBoolean());
            Assert.Equal(2, list.GetProperty("clients").GetArrayLength());
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Theory]
    [InlineData("?limit=0")]
    [InlineData("?limit=10001")]
    public async Task Clients_InvalidLimit_400ProblemDetails(string query)
    {
        using var response = await _http.GetAsync(new Uri("/api/clients" + query, UriKind.Relative));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("limit", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Aggregates_LatestTrue_ReplaysTheLatestResultOnConnect()
    {
        var key = TestIds.ClientId("agg");
        var hub = broker.App.Services.GetRequiredService<AggregateHub>();
        var end = DateTimeOffset.UtcNow;
        var fields = new Dictionary<string, IReadOnlyDictionary<string, double>> { ["temperature"] = new Dictionary<string, double> { ["avg"] = 21.5 } };
        hub.Publish(new AggregateResult("telemetry", "w1", key, end.AddSeconds(-20), end.AddSeconds(-10), 3, fields));
        hub.Publish(new AggregateResult("telemetry", "w1", key, end.AddSeconds(-10), end, 4, fields));

        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri($"/api/streams/telemetry/aggregates?key={key}&latest=true", UriKind.Relative));
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        string? data = null;
        while (data is null && await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line["data: ".Length..];
            }
        }

        Assert.NotNull(data);
        using var json = JsonDocument.Parse(data);
        Assert.Equal(key, json.RootElement.GetProperty("key").GetString());
        Assert.Equal(4, json.RootElement.GetProperty("count").GetInt64());
        Assert.Equal(21.5, json.RootElement.GetProperty("fields").GetProperty("temperature").GetProperty("avg").GetDouble());
    }

    private async Task<JsonElement> GetClientsAsync(string query)
    {
        using var response = await _http.GetAsync(new Uri("/api/clients" + query, UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }
}
