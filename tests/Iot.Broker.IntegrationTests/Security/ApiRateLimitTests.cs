using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Iot.TestUtilities;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Security;

/// <summary>
/// <c>Iot:Http:ApiRequestsPerSecond</c>: one identity flooding the API gets 429 with <c>Retry-After</c> beyond its burst,
/// another identity is served meanwhile, the refused requests are not in the audit log, and <c>/metrics</c> counts them.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ApiRateLimitTests(ITestOutputHelper output) : IDisposable
{
    private const int Burst = 5;
    private const int Flood = 30;
    private readonly TempDirectory _dataDir = new("iot-api-rate");

    public void Dispose() => _dataDir.Dispose();

    [Fact]
    public async Task AFloodingIdentity_Gets429BeyondItsBurst_AnotherIsServed_AndNothingRefusedIsAudited()
    {
        await using var broker = await BrokerProcess.StartAsync(_dataDir.Path, "--Iot:Http:ApiRequestsPerSecond=1", $"--Iot:Http:ApiRequestBurst={Burst}");
        try
        {
            using var anonymous = Client(broker, key: null);
            var flooderKey = await CreateAsync(anonymous, "flooder");
            var otherKey = await CreateAsync(anonymous, "other");
            using var flooder = Client(broker, flooderKey);
            using var other = Client(broker, otherKey);

            var statuses = new List<HttpStatusCode>();
            string? retryAfter = null;
            string? detail = null;
            for (int i = 0; i < Flood; i++)
            {
                using var response = await flooder.PutAsJsonAsync(new Uri($"api/queues/flood-{i}", UriKind.Relative), new { });
                statuses.Add(response.StatusCode);
                if (response.StatusCode == HttpStatusCode.TooManyRequests && retryAfter is null)
                {
                    retryAfter = response.Headers.RetryAfter?.Delta?.TotalSeconds.ToString(CultureInfo.InvariantCulture);
                    detail = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString();
                }
            }

            // At most the burst plus what refilled at one per second while the flood ran.
            var refused = statuses.Count(s => s == HttpStatusCode.TooManyRequests);
            var created = statuses.Count(s => s == HttpStatusCode.Created);
            Assert.Equal(Flood, refused + created);
            Assert.True(refused >= Flood / 2, $"{refused} of {Flood} refused: {string.Join(",", statuses)}");
            Assert.NotNull(retryAfter);
            Assert.Contains("Iot:Http:ApiRequestsPerSecond", detail, StringComparison.Ordinal);

            // Another identity has its own bucket.
            using (var served = await other.GetAsync(new Uri("api/queues", UriKind.Relative)))
            {
                Assert.Equal(HttpStatusCode.OK, served.StatusCode);
            }

            // The audit log has the flooder's created queues, and none of its refused requests.
            var audit = await other.GetFromJsonAsync<JsonElement>(new Uri("api/audit?actor=flooder&limit=1000", UriKind.Relative));
            var statusesAudited = audit.GetProperty("value").EnumerateArray().Select(e => e.GetProperty("status").GetInt32()).ToList();
            Assert.Equal(created, statusesAudited.Count);
            Assert.All(statusesAudited, s => Assert.Equal(201, s));

            var metrics = await other.GetStringAsync(new Uri("metrics", UriKind.Relative));
            Assert.Contains("iot_http_limit{limit=\"api_requests_per_second\"} 1", metrics, StringComparison.Ordinal);
            var hits = metrics.Split('\n').Single(l => l.StartsWith("iot_mqtt_limit_hits_total{limit=\"http_api_rate\"} ", StringComparison.Ordinal));
            Assert.True(long.Parse(hits[(hits.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture) >= refused, hits);
        }
        catch
        {
            output.WriteLine(broker.Output);
            throw;
        }
    }

    private static async Task<string> CreateAsync(HttpClient http, string id)
    {
        using var created = await http.PostAsJsonAsync(new Uri("api/devices", UriKind.Relative), new { id, role = "service" });
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
