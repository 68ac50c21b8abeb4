using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.TestUtilities;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// Issue 20, the audit log: administrative changes through the API are recorded with actor, action, target and
/// status before they are answered (so a kill -9 right after loses none); refusals (403) are recorded, traffic and
/// unauthenticated requests are not; reading it needs a service identity.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class AuditLogTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dataDir = new("iot-audit");

    public void Dispose() => _dataDir.Dispose();

    [Fact]
    public async Task Changes_AreRecordedWithActorAndStatus_TrafficIsNot_AndSurviveKill9()
    {
        var broker = await BrokerProcess.StartAsync(_dataDir.Path);
        try
        {
            using var anonymous = Client(broker, key: null);
            var ops = await CreateAsync(anonymous, "ops", "service");
            var viewer = await CreateAsync(anonymous, "viewer", "dashboard");
            using var asOps = Client(broker, ops);
            using var asViewer = Client(broker, viewer);
            using var asNobody = Client(broker, "not-a-key");

            Assert.Equal(HttpStatusCode.Created, (await asOps.PutAsJsonAsync(new Uri("api/queues/work", UriKind.Relative), new { })).StatusCode);
            Assert.Equal(HttpStatusCode.Created, (await asOps.PostAsync(new Uri("api/queues/work/messages", UriKind.Relative), new StringContent("traffic"))).StatusCode);
            Assert.Equal(HttpStatusCode.NoContent, (await asOps.DeleteAsync(new Uri("api/queues/work", UriKind.Relative))).StatusCode);
            Assert.Equal(HttpStatusCode.Forbidden, (await asViewer.PutAsJsonAsync(new Uri("api/queues/sneaky", UriKind.Relative), new { })).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await asNobody.PutAsJsonAsync(new Uri("api/queues/nobody", UriKind.Relative), new { })).StatusCode);

            string[] expected =
            [
                "viewer dashboard PUT /api/queues/{name} name=sneaky 403",
                "ops service DELETE /api/queues/{name} name=work 204",
                "ops service PUT /api/queues/{name} name=work 201",
                "anonymous - POST /api/devices  201",
                "anonymous - POST /api/devices  201",
            ];
            Assert.Equal(expected, await ReadAsync(asOps));
            Assert.Equal(HttpStatusCode.Forbidden, (await asViewer.GetAsync(new Uri("api/audit", UriKind.Relative))).StatusCode);
            var filtered = await asOps.GetFromJsonAsync<JsonElement>(new Uri("api/audit?actor=ops&action=DELETE", UriKind.Relative));
            Assert.Equal("name=work", Assert.Single(filtered.GetProperty("value").EnumerateArray()).GetProperty("target").GetString());

            // Each entry was on disk before its answer: a kill -9 now loses none.
            await broker.KillAsync();
            await broker.DisposeAsync();
            broker = await BrokerProcess.StartAsync(_dataDir.Path);
            using var again = Client(broker, ops);
            Assert.Equal(expected, await ReadAsync(again));
        }
        catch
        {
            output.WriteLine(broker.Output);
            throw;
        }
        finally
        {
            await broker.DisposeAsync();
        }
    }

    private static async Task<string[]> ReadAsync(HttpClient http)
    {
        var audit = await http.GetFromJsonAsync<JsonElement>(new Uri("api/audit", UriKind.Relative));
        return [.. audit.GetProperty("value").EnumerateArray().Select(e =>
            $"{e.GetProperty("actor").GetString()} {(e.GetProperty("role").ValueKind == JsonValueKind.Null ? "-" : e.GetProperty("role").GetString())} " +
            $"{e.GetProperty("action").GetString()} {e.GetProperty("target").GetString()} {e.GetProperty("status").GetInt32()}")];
    }

    private static async Task<string> CreateAsync(HttpClient http, string id, string role)
    {
        using var created = await http.PostAsJsonAsync(new Uri("api/devices", UriKind.Relative), new { id, role });
        created.EnsureSuccessStatusCode();
        return (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("apiKey").GetString()!;
    }

    private static HttpClient Client(BrokerProcess broker, string? key)
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/"), Timeout = TimeSpan.FromSeconds(30) };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Add("X-Api-Key", key);
        }

        return http;
    }
}
