using System.Globalization;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

namespace Iot.Broker.IntegrationTests.Cluster.Streams;

/// <summary>
/// Issue 19, done-when 5 (the streams part): telemetry published over MQTT through two broker nodes lands, by the default
/// route, in the partitions of the stream <c>telemetry</c> (replicated JetStream streams on three real nats-servers),
/// with dense offsets per partition, and reads the same through either node's HTTP streams API.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class ClusterStreamsTests(ITestOutputHelper output)
{
    private const int Devices = 6;
    private const int PerDevice = 25;

    [Fact]
    public async Task TelemetryThroughTwoNodes_DensePartitions_SameRecordsReadThroughEitherNode()
    {
        await using var nats = await NatsClusterFixture.StartAsync(servers: 3);
        await using var brokers = await ClusterBrokers.StartAsync(nats, 2, "--Iot:Security:AllowAnonymous=true");
        try
        {
            var prefix = "cs-" + Guid.NewGuid().ToString("N")[..6];
            var devices = Enumerable.Range(0, Devices).Select(d => string.Create(CultureInfo.InvariantCulture, $"{prefix}-{d}")).ToArray();
            await Task.WhenAll(devices.Select((device, d) => PublishAsync(brokers.MqttPort(d % 2), device)));

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
            var onA = await ReadAllAsync(http, brokers.HttpBaseAddress(0), devices);
            var onB = await ReadAllAsync(http, brokers.HttpBaseAddress(1), devices);

            Assert.Equal(onA.Count, onB.Count);
            foreach (var (partition, records) in onA)
            {
                // Dense from 0 in every partition, and the same records on both nodes.
                Assert.Equal(Enumerable.Range(0, records.Count).Select(i => (long)i), records.Select(r => r.Offset));
                Assert.Equal(records, onB[partition]);
            }

            // Every device's telemetry in one partition, in the order it was published (each publish awaited its PUBACK).
            foreach (var device in devices)
            {
                var holding = onA.Where(p => p.Value.Any(r => r.Key == device)).Select(p => p.Key).ToList();
                var partition = Assert.Single(holding);
                var values = onA[partition].Where(r => r.Key == device).Select(r => r.Value).ToList();
                Assert.Equal(Enumerable.Range(0, PerDevice), values);
            }
        }
        catch
        {
            output.WriteLine(brokers.Diagnostics());
            throw;
        }
    }

    private static async Task PublishAsync(int port, string device)
    {
        using var client = new MqttClientFactory().CreateMqttClient();
        await client.ConnectAsync(new MqttClientOptionsBuilder()
            .WithTcpServer(BrokerFixture.Host, port)
            .WithClientId(device)
            .WithProtocolVersion(MqttProtocolVersion.V500)
            .WithTimeout(TimeSpan.FromSeconds(10))
            .Build());
        for (var i = 0; i < PerDevice; i++)
        {
            var result = await client.PublishAsync(new MqttApplicationMessageBuilder()
                .WithTopic($"devices/{device}/telemetry")
                .WithPayload(string.Create(CultureInfo.InvariantCulture, $"{{\"i\":{i},\"temperature\":{20 + i}}}"))
                .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
                .Build());
            Assert.True(result.IsSuccess, $"{device} publish {i}: {result.ReasonCode}");
        }

        await client.DisconnectAsync();
    }

    /// <summary>Every partition's records of this test's devices, read from offset 0 through one node (polled until all arrived).</summary>
    private static async Task<Dictionary<int, List<Row>>> ReadAllAsync(HttpClient http, Uri node, string[] devices)
    {
        Dictionary<int, List<Row>> partitions = [];
        await Eventually.WaitUntilAsync(async () =>
        {
            partitions = [];
            using var stream = JsonDocument.Parse(await http.GetStringAsync(new Uri(node, "api/streams/telemetry")));
            foreach (var partition in stream.RootElement.GetProperty("partitionOffsets").EnumerateArray())
            {
                var p = partition.GetProperty("partition").GetInt32();
                var rows = new List<Row>();
                while (true)
                {
                    var uri = new Uri(node, string.Create(CultureInfo.InvariantCulture, $"api/streams/telemetry/partitions/{p}/records?offset={rows.Count}&max=1000"));
                    using var page = JsonDocument.Parse(await http.GetStringAsync(uri));
                    var records = page.RootElement.GetProperty("records");
                    if (records.GetArrayLength() == 0)
                    {
                        break;
                    }

                    rows.AddRange(records.EnumerateArray().Select(r => new Row(
                        r.GetProperty("offset").GetInt64(),
                        r.GetProperty("key").GetString(),
                        r.GetProperty("payload").TryGetProperty("i", out var i) ? i.GetInt32() : -1)));
                }

                partitions[p] = rows;
            }

            return partitions.Values.Sum(rows => rows.Count(r => devices.Contains(r.Key))) == Devices * PerDevice;
        }, TimeSpan.FromSeconds(30), $"{Devices * PerDevice} records readable through {node}");
        return partitions;
    }

    private sealed record Row(long Offset, string? Key, int Value);
}
