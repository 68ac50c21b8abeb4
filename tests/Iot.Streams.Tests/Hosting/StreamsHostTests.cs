using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.Messaging;

namespace Iot.Streams.Tests.Hosting;

[Trait("Category", "Integration")]
public sealed class StreamsHostTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static Dictionary<string, string?> TumblingWindow(string idleAdvance = "false") => new()
    {
        ["Iot:Streams:Windows:0:Name"] = "t10s",
        ["Iot:Streams:Windows:0:Kind"] = "Tumbling",
        ["Iot:Streams:Windows:0:Size"] = "00:00:10",
        ["Iot:Streams:Windows:0:Tolerance"] = "00:00:02",
        ["Iot:Streams:Windows:0:Fields:0"] = "temperature",
        ["Iot:Streams:Windows:0:IdleAdvance"] = idleAdvance,
        ["Iot:Streams:IdleTick"] = "00:00:00.050",
    };

    private static Task PublishAsync(IMessageRouter router, string device, double seconds, double temperature) =>
        router.RouteAsync(new RoutedMessage
        {
            Topic = $"devices/{device}/telemetry",
            Payload = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                $"{{\"temperature\":{temperature},\"ts\":\"{T0.AddSeconds(seconds):O}\"}}")),
            QualityOfService = 1,
            SourceClientId = device,
            ReceivedAt = DateTimeOffset.UtcNow,
        });

    [Fact]
    public async Task DefaultRoute_Telemetry_AppendedDurablyBeforeTheRouterTaskCompletes()
    {
        await using var host = await StreamsHost.StartAsync(_dir.Path);
        var routes = await host.Http.GetStringAsync(new Uri("/api/routes", UriKind.Relative));
        Assert.Contains("streams.telemetry", routes, StringComparison.Ordinal);

        await PublishAsync(host.Router, "dev-1", 0, 20);
        await PublishAsync(host.Router, "dev-1", 1, 21);

        // The route's task completed: the records are durable and readable now, in order, in dev-1's partition.
        var stream = await host.Http.GetFromJsonAsync<JsonElement>(new Uri("/api/streams/telemetry", UriKind.Relative));
        Assert.Equal(4, stream.GetProperty("partitions").GetInt32());
        var partition = stream.GetProperty("partitionOffsets").EnumerateArray().Single(p => p.GetProperty("nextOffset").GetInt64() == 2)
            .GetProperty("partition").GetInt32();
        var read = await host.Http.GetFromJsonAsync<JsonElement>(new Uri($"/api/streams/telemetry/partitions/{partition}/records?offset=1", UriKind.Relative));
        var record = Assert.Single(read.GetProperty("records").EnumerateArray());
        Assert.Equal(1, record.GetProperty("offset").GetInt64());
        Assert.Equal("dev-1", record.GetProperty("key").GetString());
        Assert.Equal(21, record.GetProperty("payload").GetProperty("temperature").GetDouble());
        Assert.Equal(2, read.GetProperty("nextOffset").GetInt64());
    }

    [Fact]
    public async Task Api_StreamsAndGroups_CreateReadCommit()
    {
        await using var host = await StreamsHost.StartAsync(_dir.Path);
        using (var created = await host.Http.PutAsJsonAsync(new Uri("/api/streams/orders", UriKind.Relative), new { partitions = 2, retention = "1.00:00:00" }))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        using (var conflict = await host.Http.PutAsJsonAsync(new Uri("/api/streams/orders", UriKind.Relative), new { partitions = 3 }))
        {
            Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);
        }

        using (var createGroup = await host.Http.PutAsync(new Uri("/api/streams/telemetry/groups/dash", UriKind.Relative), null))
        {
            Assert.Equal(HttpStatusCode.Created, createGroup.StatusCode);
        }

        for (int i = 0; i < 5; i++)
        {
            await PublishAsync(host.Router, "dev-7", i, i);
        }

        var stream = await host.Http.GetFromJsonAsync<JsonElement>(new Uri("/api/streams/telemetry", UriKind.Relative));
        var p = stream.GetProperty("partitionOffsets").EnumerateArray().Single(x => x.GetProperty("nextOffset").GetInt64() == 5).GetProperty("partition").GetInt32();

        var first = await host.Http.GetFromJsonAsync<JsonElement>(new Uri($"/api/streams/telemetry/groups/dash/partitions/{p}/records?max=3", UriKind.Relative));
        Assert.Equal(3, first.GetProperty("records").GetArrayLength());
        using (var commit = await host.Http.PutAsJsonAsync(new Uri($"/api/streams/telemetry/groups/dash/partitions/{p}/offset", UriKind.Relative),
            new { offset = first.GetProperty("nextOffset").GetInt64() }))
        {
            Assert.Equal(HttpStatusCode.NoContent, commit.StatusCode);
        }

        var rest = await host.Http.GetFromJsonAsync<JsonElement>(new Uri($"/api/streams/telemetry/groups/dash/partitions/{p}/records", UriKind.Relative));
        Assert.Equal([3L, 4L], rest.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("offset").GetInt64()));

        var group = await host.Http.GetFromJsonAsync<JsonElement>(new Uri("/api/streams/telemetry/groups/dash", UriKind.Relative));
        Assert.Equal(2, group.GetProperty("partitions")[p].GetProperty("lag").GetInt64());

        var byTime = await host.Http.GetFromJsonAsync<JsonElement>(new Uri(
            $"/api/streams/telemetry/partitions/{p}/records?time={Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(-5).ToString("O"))}", UriKind.Relative));
        Assert.Equal(5, byTime.GetProperty("records").GetArrayLength());
        var fromEnd = await host.Http.GetFromJsonAsync<JsonElement>(new Uri($"/api/streams/telemetry/partitions/{p}/records?from=end", UriKind.Relative));
        Assert.Equal(0, fromEnd.GetProperty("records").GetArrayLength());

        var sink = await host.Http.GetFromJsonAsync<JsonElement>(new Uri("/api/sinks/influx", UriKind.Relative));
        Assert.Equal(0, sink.GetProperty("pointsWritten").GetInt64());
        Assert.Equal(0, sink.GetProperty("recordsBehind").GetInt64());

        using var missing = await host.Http.GetAsync(new Uri("/api/streams/nope/partitions/0/records", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Contains("nope", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Aggregation_TenDevicesOutOfOrder_PublishesRetainedAggregatesOnceAcrossRestart()
    {
        var settings = TumblingWindow();
        await using (var host = await StreamsHost.StartAsync(_dir.Path, settings))
        {
            // The devices publish side by side, out of order inside the tolerance (0, 2, 1, 3, 9); their events at
            // 12 s move the partitions' watermarks to 10 s and close [0, 10).
            foreach (var second in new[] { 0, 2, 1, 3, 9 })
            {
                await Task.WhenAll(Enumerable.Range(0, 10).Select(device => PublishAsync(host.Router, $"dev-{device}", second, device * 10 + second)));
            }

            await Task.WhenAll(Enumerable.Range(0, 10).Select(device => PublishAsync(host.Router, $"dev-{device}", 12, 0)));

            await Poll.UntilAsync(() => host.Publisher.Published.Count >= 10, TimeSpan.FromSeconds(30), "10 aggregates");
            Assert.Equal(10, host.Publisher.Published.Count);
            foreach (var (topic, payload, retain) in host.Publisher.Published)
            {
                Assert.True(retain);
                var device = int.Parse(topic.Split('/')[^1]["dev-".Length..], CultureInfo.InvariantCulture);
                Assert.Equal($"aggregates/telemetry/t10s/dev-{device}", topic);
                using var json = JsonDocument.Parse(payload);
                Assert.Equal(5, json.RootElement.GetProperty("count").GetInt64());
                var temperature = json.RootElement.GetProperty("fields").GetProperty("temperature");
                Assert.Equal(device * 10 + 3, temperature.GetProperty("avg").GetDouble(), 9);
                Assert.Equal(device * 10 + 9, temperature.GetProperty("max").GetDouble());
                Assert.Equal(device * 10 + 9, temperature.GetProperty("last").GetDouble());
            }

            // An event older than the watermark (10 s) is dropped and counted.
            await PublishAsync(host.Router, "dev-0", 5, 1000);
            await Poll.UntilAsync(async () =>
            {
                var status = await host.Http.GetFromJsonAsync<JsonElement>(new Uri("/api/streams/telemetry/aggregations", UriKind.Relative));
                return status.GetArrayLength() == 4 && status.EnumerateArray().Sum(s => s.GetProperty("droppedLate").GetInt64()) == 1;
            }, TimeSpan.FromSeconds(30), "one late event counted");
            Assert.Equal(10, host.Publisher.Published.Count);
        }

        // A restart resumes from the committed offset: the windows already published are not published again.
        await using (var host = await StreamsHost.StartAsync(_dir.Path, settings))
        {
            await PublishAsync(host.Router, "dev-0", 25, 1);
            await Poll.UntilAsync(() => host.Publisher.Published.Any(p => p.Topic.EndsWith("/dev-0", StringComparison.Ordinal)),
                TimeSpan.FromSeconds(30), "the [10, 20) window of dev-0");

            // dev-0's watermark closes [10, 20) for every device of its partition; [0, 10) is not published again.
            Assert.All(host.Publisher.Published, p => Assert.Contains("\"start\":\"2026-01-01T00:00:10+00:00\"", p.Payload, StringComparison.Ordinal));
            Assert.Equal(host.Publisher.Published.Count, host.Publisher.Published.Select(p => p.Topic).Distinct().Count());
        }
    }

    [Fact]
    public async Task Sse_Aggregates_StreamedToAFollower()
    {
        await using var host = await StreamsHost.StartAsync(_dir.Path, TumblingWindow());
        using var response = await host.Http.GetAsync(new Uri("/api/streams/telemetry/aggregates?window=t10s", UriKind.Relative),
            HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        await PublishAsync(host.Router, "dev-sse", 1, 42);
        await PublishAsync(host.Router, "dev-sse", 13, 0);
        string? line;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        do
        {
            line = await reader.ReadLineAsync(deadline.Token);
        }
        while (line is not null && !line.StartsWith("data:", StringComparison.Ordinal));

        Assert.NotNull(line);
        Assert.Contains("\"key\":\"dev-sse\"", line, StringComparison.Ordinal);
        Assert.Contains("\"avg\":42", line, StringComparison.Ordinal);
    }
}
