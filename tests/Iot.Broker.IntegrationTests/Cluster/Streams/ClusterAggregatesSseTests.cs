using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Streams;

/// <summary>
/// Aggregation results over Server-Sent Events in a cluster (issue 19: aggregates are the same whichever node computed
/// them): each window x partition runs on one node, yet a dashboard following <c>GET /api/streams/telemetry/aggregates</c>
/// on either node receives the results of every device.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterAggregatesSseTests(ITestOutputHelper output)
{
    private const int Devices = 8;

    private static readonly string[] Args =
    [
        "--Iot:Security:AllowAnonymous=true",
        "--Iot:Streams:Windows:0:Name=s1",
        "--Iot:Streams:Windows:0:Kind=Tumbling",
        "--Iot:Streams:Windows:0:Size=00:00:01",
        "--Iot:Streams:Windows:0:Fields:0=temperature",
    ];

    [Fact]
    public async Task TwoBrokers_SseOnEachNode_CarriesTheResultsOfEveryDevice()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 1);
        await using var brokers = await ClusterBrokers.StartAsync(nats, 2, Args);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var run = Guid.NewGuid().ToString("N")[..6];
        var keys = Enumerable.Range(0, Devices).Select(i => $"sse-{run}-{i.ToString(CultureInfo.InvariantCulture)}").ToArray();
        var seen = new[] { new ConcurrentDictionary<string, int>(), new ConcurrentDictionary<string, int>() };
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        try
        {
            var readers = Enumerable.Range(0, 2).Select(n => FollowAsync(http, brokers.HttpBaseAddress(n), seen[n], stop.Token)).ToArray();
            using var publisher = new MqttClientFactory().CreateMqttClient();
            await publisher.ConnectAsync(new MqttClientOptionsBuilder().WithTcpServer("127.0.0.1", brokers.MqttPort(0)).WithClientId("sse-pub-" + run)
                .WithProtocolVersion(MqttProtocolVersion.V500).Build());

            // Telemetry of every device until both nodes' SSE carried a result of each (windows close as time moves on).
            await Eventually.WaitUntilAsync(async () =>
            {
                foreach (var key in keys)
                {
                    await publisher.PublishAsync(new MqttApplicationMessageBuilder().WithTopic($"devices/{key}/telemetry")
                        .WithPayload("""{"temperature":21.5}""").WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce).Build());
                }

                return keys.All(k => seen[0].ContainsKey(k) && seen[1].ContainsKey(k));
            }, TimeSpan.FromSeconds(60), "both nodes' SSE carry a result of every device");

            output.WriteLine($"node-0 saw {seen[0].Count} devices, node-1 {seen[1].Count}");
            await stop.CancelAsync();
            await Task.WhenAll(readers).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch
        {
            output.WriteLine($"node-0 saw [{string.Join(",", seen[0].Keys)}], node-1 saw [{string.Join(",", seen[1].Keys)}]");
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    private static async Task FollowAsync(HttpClient http, Uri node, ConcurrentDictionary<string, int> seen, CancellationToken cancellationToken)
    {
        try
        {
            using var response = await http.GetAsync(new Uri(node, "api/streams/telemetry/aggregates?window=s1"), HttpCompletionOption.ResponseHeadersRead,
                cancellationToken);
            response.EnsureSuccessStatusCode();
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    using var json = JsonDocument.Parse(line["data: ".Length..]);
                    seen.AddOrUpdate(json.RootElement.GetProperty("key").GetString()!, 1, (_, n) => n + 1);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The test ended.
        }
    }
}
