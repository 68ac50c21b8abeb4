using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using Iot.TestUtilities.Nats;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using NATS.Client.Core;
using NATS.Client.JetStream;
using Xunit.Abstractions;

using static Iot.Broker.IntegrationTests.Robustness.RestoredState;

namespace Iot.Broker.IntegrationTests.Cluster.Backup;

/// <summary>
/// Issue 20, backup and restore in cluster mode: a backup taken through one node's API while another node takes
/// publishes holds JetStream snapshots of every stream of Iot; restored (<c>Iot:Restore:From</c>) by a node of a new
/// NATS cluster, it gives back the identities, the persistent session with its queued messages, the retained message,
/// the queue, the pending command and the stream offsets; JetStream that holds Iot's streams already is not overwritten.
/// </summary>
[Collection(ClusterCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class ClusterBackupRestoreTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _root = new("iot-cluster-backup");

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task BackupUnderLoad_RestoredIntoANewCluster_HoldsWhatWasThere_AndAClusterInUseIsRefused()
    {
        string archive;
        JsonElement manifest;
        string password;
        string commandId;
        List<string> identities;
        await using (var nats = await NatsClusterFixture.StartAsync(servers: 3))
        await using (var brokers = await ClusterBrokers.StartAsync(nats, 2))
        {
            try
            {
                using var http = Client(brokers.HttpBaseAddress(0));
                password = (await (await http.PostAsJsonAsync("api/devices", new { id = "dev-backup" })).Content.ReadFromJsonAsync<JsonElement>())
                    .GetProperty("password").GetString()!;
                await PutAsync(http, "api/queues/orders", new { });
                for (int i = 0; i < 10; i++)
                {
                    using var sent = await http.PostAsync(new Uri($"api/queues/orders/messages?messageId=o{i}", UriKind.Relative), new StringContent($"order {i}"));
                    sent.EnsureSuccessStatusCode();
                }

                using (var command = await http.PostAsync(new Uri("api/devices/dev-offline/commands/reboot?ttl=3600", UriKind.Relative), new StringContent("{}", Encoding.UTF8, "application/json")))
                {
                    Assert.Equal(HttpStatusCode.Accepted, command.StatusCode);
                    commandId = (await command.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("commandId").GetString()!;
                }

                using (var keeper = await ConnectAsync(brokers.MqttPort(1), "keep", cleanStart: false))
                {
                    await keeper.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("alerts/#", MqttQualityOfServiceLevel.AtLeastOnce).Build());
                    await keeper.DisconnectAsync();
                }

                using (var publisher = await ConnectAsync(brokers.MqttPort(0), "pub", cleanStart: true))
                {
                    await publisher.PublishAsync(Message("status/a", "online", retain: true));
                    for (int i = 0; i < 3; i++)
                    {
                        await publisher.PublishAsync(Message($"alerts/{i}", $"alert {i}"));
                    }

                    for (int i = 0; i < 20; i++)
                    {
                        await publisher.PublishAsync(Message("devices/d1/telemetry", $"{{\"n\":{i}}}"));
                    }
                }

                // Publishes through node 1 while node 0 takes the backup.
                using var stop = new CancellationTokenSource();
                var acknowledged = 0;
                var load = LoadAsync(brokers.MqttPort(1), () => Interlocked.Increment(ref acknowledged), stop.Token);
                await Eventually.WaitUntilAsync(() => Volatile.Read(ref acknowledged) >= 50, TimeSpan.FromSeconds(60), "publishes under load");
                using var created = await http.PostAsync(new Uri("api/backups", UriKind.Relative), null);
                var text = await created.Content.ReadAsStringAsync();
                Assert.True(created.StatusCode == HttpStatusCode.Created, text);
                await stop.CancelAsync();
                await load;
                output.WriteLine(text);
                manifest = JsonDocument.Parse(text).RootElement.Clone();
                var id = manifest.GetProperty("id").GetString()!;

                // Every stream of the account but the probe's is in it: a store added later cannot be left out unseen.
                var figures = manifest.GetProperty("stores").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "jetstream").GetProperty("figures");
                await using (var connection = new NatsConnection(NatsOpts.Default with { Url = nats.Url(0) }))
                {
                    await foreach (var name in new NatsJSContext(connection).ListStreamNamesAsync())
                    {
                        Assert.True(name == "IOT_HEALTH" || figures.TryGetProperty(name, out _), $"stream {name} is not in the backup");
                    }
                }

                Assert.True(figures.GetProperty("IOT_RETAINED").GetInt64() >= 1);
                archive = Path.Combine(_root.Path, "backup.tar.gz");
                await using (var file = File.Create(archive))
                await using (var download = await http.GetStreamAsync(new Uri($"api/backups/{id}/archive", UriKind.Relative)))
                {
                    await download.CopyToAsync(file);
                }

                identities = await IdsAsync(http);

                // JetStream that holds Iot's streams is never overwritten.
                var refused = await StartFailingAsync(nats, archive);
                Assert.Contains("JetStream holds Iot's stream(s)", refused, StringComparison.Ordinal);
            }
            catch
            {
                output.WriteLine(brokers.Diagnostics());
                throw;
            }
        }

        // A new NATS cluster, one node restoring the archive.
        await using var freshNats = await NatsClusterFixture.StartAsync(servers: 3);
        await using var restored = await ClusterBrokers.StartAsync(freshNats, 1, $"--Iot:Restore:From={archive}");
        try
        {
            using var http2 = Client(restored.HttpBaseAddress(0));
            Assert.Equal(identities, await IdsAsync(http2));
            var queue = await http2.GetFromJsonAsync<JsonElement>(new Uri("api/queues/orders", UriKind.Relative));
            Assert.Equal(10, queue.GetProperty("statistics").GetProperty("active").GetInt64());
            var pending = await http2.GetFromJsonAsync<JsonElement>(new Uri($"api/commands/{commandId}", UriKind.Relative));
            Assert.Equal("Queued", pending.GetProperty("status").GetString());

            // Every stream partition at least at the offsets it had when the backup started (the snapshots are taken one after another).
            var stream = await http2.GetFromJsonAsync<JsonElement>(new Uri("api/streams/telemetry", UriKind.Relative));
            Assert.True(stream.GetProperty("partitionOffsets").EnumerateArray().Sum(p => p.GetProperty("nextOffset").GetInt64()) >= 20 + 50);

            // The device's credentials, the retained message and the persistent session with its three queued alerts.
            await AssertSessionAndRetainedAsync(restored.MqttPort(0), password);

            // Restarted with the setting still in place, the node starts on what it restored.
            await restored.StopAsync(0);
            await restored.RestartAsync(0);
            using var http3 = Client(restored.HttpBaseAddress(0));
            Assert.Equal(identities, await IdsAsync(http3));
        }
        catch
        {
            output.WriteLine(restored.Diagnostics());
            throw;
        }
    }

    private async Task<string> StartFailingAsync(NatsClusterFixture nats, string archive)
    {
        var environment = new Dictionary<string, string?> { ["Logging__Console__FormatterOptions__ColorBehavior"] = "Disabled" };
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var result = await ChildProcess.RunAsync(dotnet,
            [RepositoryPaths.BrokerDll, "--Iot:Mqtt:Port=0", "--Iot:Http:Port=0", $"--Iot:DataDir={Path.Combine(_root.Path, "refused")}",
                $"--Iot:Cluster:Nats:Url={nats.Urls}", "--Iot:Cluster:NodeId=node-x", $"--Iot:Restore:From={archive}"],
            TimeSpan.FromSeconds(90), Path.GetDirectoryName(RepositoryPaths.BrokerDll), environment);
        output.WriteLine(result.ToString());
        return Robustness.StartupFailureTests.AssertOneFailureLine(result);
    }

    private static async Task LoadAsync(int port, Action acknowledged, CancellationToken cancellationToken)
    {
        using var client = await ConnectAsync(port, "load", cleanStart: true);
        for (int i = 0; !cancellationToken.IsCancellationRequested; i++)
        {
            try
            {
                await client.PublishAsync(Message($"devices/d{i % 8}/telemetry", string.Create(CultureInfo.InvariantCulture, $"{{\"i\":{i}}}")), cancellationToken);
                acknowledged();
            }
            catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is OperationCanceledException or MQTTnet.Exceptions.MqttCommunicationException)
            {
                return;
            }
        }
    }


    private static HttpClient Client(Uri baseAddress) => new() { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };




}
