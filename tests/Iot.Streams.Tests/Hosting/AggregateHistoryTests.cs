using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.Messaging;

namespace Iot.Streams.Tests.Hosting;

/// <summary><c>GET /api/streams/{name}/aggregates/history</c>: recomputed from the stream, the same results the live aggregation published.</summary>
[Trait("Category", "Integration")]
public sealed class AggregateHistoryTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly string[] Devices = ["hist-a", "hist-b", "hist-c"];
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task History_AfterAggregation_EqualsWhatWasPublished_FilteredByKeySinceAndMax()
    {
        await using var host = await StreamsHost.StartAsync(_dir.Path, new Dictionary<string, string?>
        {
            ["Iot:Streams:Windows:0:Name"] = "t10s",
            ["Iot:Streams:Windows:0:Size"] = "00:00:10",
            ["Iot:Streams:Windows:0:Tolerance"] = "00:00:02",
            ["Iot:Streams:Windows:0:Fields:0"] = "temperature",
            ["Iot:Streams:Windows:0:IdleAdvance"] = "false",
        });
        // One event a second for 46 s per device: the watermark (45 - 2 s) closes [0, 10) to [30, 40), 4 windows each.
        for (var second = 0; second <= 45; second++)
        {
            await Task.WhenAll(Devices.Select((d, i) => PublishAsync(host.Router, d, second, (i * 100) + second)));
        }

        await Poll.UntilAsync(() => Task.FromResult(host.Publisher.Published.Count >= 12), TimeSpan.FromSeconds(30), "12 live aggregates");
        var published = host.Publisher.Published.Select(p => p.Payload).ToHashSet(StringComparer.Ordinal);

        var all = await GetAsync(host, $"window=t10s&since={Since(0)}");
        var results = all.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(12, results.Count);
        Assert.False(all.GetProperty("truncated").GetBoolean());
        Assert.Equal(3 * 46, all.GetProperty("recordsRead").GetInt64());
        // The same results, byte for byte, in window end order.
        Assert.Equal(published.Order(StringComparer.Ordinal), results.Select(r => r.GetRawText()).Order(StringComparer.Ordinal));
        Assert.Equal(results.Select(r => r.GetProperty("end").GetDateTimeOffset()).Order(), results.Select(r => r.GetProperty("end").GetDateTimeOffset()));
        var first = results.First(r => r.GetProperty("key").GetString() == "hist-b");
        Assert.Equal(104.5, first.GetProperty("fields").GetProperty("temperature").GetProperty("avg").GetDouble(), 9);

        var one = await GetAsync(host, $"window=t10s&key=hist-b&since={Since(0)}");
        Assert.Equal(4, one.GetProperty("results").GetArrayLength());
        Assert.All(one.GetProperty("results").EnumerateArray(), r => Assert.Equal("hist-b", r.GetProperty("key").GetString()));

        var recent = await GetAsync(host, $"window=t10s&since={Since(25)}");
        Assert.Equal(6, recent.GetProperty("results").GetArrayLength());
        Assert.All(recent.GetProperty("results").EnumerateArray(), r => Assert.True(r.GetProperty("end").GetDateTimeOffset() > T0.AddSeconds(25)));

        var newest = await GetAsync(host, $"window=t10s&since={Since(0)}&max=3");
        Assert.True(newest.GetProperty("truncated").GetBoolean());
        Assert.All(newest.GetProperty("results").EnumerateArray(), r => Assert.Equal(T0.AddSeconds(40), r.GetProperty("end").GetDateTimeOffset()));
    }

    [Theory]
    [InlineData("/api/streams/telemetry/aggregates/history", HttpStatusCode.BadRequest, "window is required")]
    [InlineData("/api/streams/telemetry/aggregates/history?window=nope", HttpStatusCode.NotFound, "no window named 'nope'")]
    [InlineData("/api/streams/nope/aggregates/history?window=t10s", HttpStatusCode.NotFound, "no stream named 'nope'")]
    [InlineData("/api/streams/telemetry/aggregates/history?window=t10s&max=0", HttpStatusCode.BadRequest, "max must be between 1 and 50000")]
    public async Task History_BadRequest_ProblemSaysWhy(string path, HttpStatusCode status, string detail)
    {
        await using var host = await StreamsHost.StartAsync(_dir.Path, new Dictionary<string, string?>
        {
            ["Iot:Streams:Windows:0:Name"] = "t10s",
            ["Iot:Streams:Windows:0:Size"] = "00:00:10",
            ["Iot:Streams:Windows:0:Fields:0"] = "temperature",
        });

        using var response = await host.Http.GetAsync(new Uri(path, UriKind.Relative));

        Assert.Equal(status, response.StatusCode);
        Assert.Contains(detail, await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private static string Since(int seconds) => Uri.EscapeDataString(T0.AddSeconds(seconds).ToString("O", CultureInfo.InvariantCulture));

    private static async Task<JsonElement> GetAsync(StreamsHost host, string query)
    {
        using var response = await host.Http.GetAsync(new Uri($"/api/streams/telemetry/aggregates/history?{query}", UriKind.Relative));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    private static Task PublishAsync(IMessageRouter router, string device, int second, double temperature) =>
        router.RouteAsync(new RoutedMessage
        {
            Topic = $"devices/{device}/telemetry",
            Payload = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                $"{{\"temperature\":{temperature},\"ts\":\"{T0.AddSeconds(second):O}\"}}")),
            QualityOfService = 1,
            SourceClientId = device,
            ReceivedAt = DateTimeOffset.UtcNow,
        });
}
