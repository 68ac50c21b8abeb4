using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Iot.TestUtilities;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;
using Xunit.Abstractions;

using static Iot.Broker.IntegrationTests.Robustness.RestoredState;

namespace Iot.Broker.IntegrationTests.Robustness;

/// <summary>
/// Issue 20, backup and restore: a backup taken through the API while publishers load the broker, downloaded as an
/// archive and restored into a fresh broker (<c>Iot:Restore:From</c>) holds the identities, the persistent session
/// with its queued messages, the retained message, the queue's messages, the pending command and the streams at the
/// offsets its manifest names, with the consumer group's committed offsets.
/// </summary>
[Collection(BrokerProcessCollectionDefinition.Name)]
[Trait("Category", "Integration")]
[Trait("Category", "Slow")]
public sealed class BackupRestoreTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _root = new("iot-backup");

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task BackupUnderLoad_RestoredIntoAFreshBroker_HoldsWhatWasThereBeforeIt()
    {
        var source = await BrokerProcess.StartAsync(Path.Combine(_root.Path, "a"));
        BrokerProcess? restored = null;
        try
        {
            using var http = Client(source);

            // State before the backup.
            var device = await (await http.PostAsJsonAsync("api/devices", new { id = "dev-backup" })).Content.ReadFromJsonAsync<JsonElement>();
            var password = device.GetProperty("password").GetString()!;
            await PutAsync(http, "api/queues/orders", new { });
            for (int i = 0; i < 10; i++)
            {
                using var sent = await http.PostAsync(new Uri($"api/queues/orders/messages?messageId=o{i}", UriKind.Relative), new StringContent($"order {i}"));
                sent.EnsureSuccessStatusCode();
            }

            string commandId;
            using (var command = await http.PostAsync(new Uri("api/devices/dev-offline/commands/reboot?ttl=3600", UriKind.Relative), new StringContent("{}", Encoding.UTF8, "application/json")))
            {
                Assert.Equal(HttpStatusCode.Accepted, command.StatusCode);
                commandId = (await command.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("commandId").GetString()!;
            }

            using (var keeper = await ConnectAsync(source.MqttPort, "keep", cleanStart: false))
            {
                await keeper.SubscribeAsync(new MqttClientSubscribeOptionsBuilder().WithTopicFilter("alerts/#", MqttQualityOfServiceLevel.AtLeastOnce).Build());
                await keeper.DisconnectAsync();
            }

            using (var publisher = await ConnectAsync(source.MqttPort, "pub", cleanStart: true))
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

            await PutAsync(http, "api/streams/telemetry/groups/g1", new { });
            var partition = await PartitionWithRecordsAsync(http);
            await PutAsync(http, $"api/streams/telemetry/groups/g1/partitions/{partition}/offset", new { offset = 7, metadata = "seven" });

            // Load while the backup runs.
            using var stop = new CancellationTokenSource();
            var acknowledged = new ConcurrentBag<string>();
            var load = LoadAsync(source.MqttPort, acknowledged, stop.Token);
            await Eventually.WaitUntilAsync(() => acknowledged.Count >= 100, TimeSpan.FromSeconds(60), "publishes under load");
            using var created = await http.PostAsync(new Uri("api/backups", UriKind.Relative), null);
            var manifestText = await created.Content.ReadAsStringAsync();
            Assert.True(created.StatusCode == HttpStatusCode.Created, manifestText);
            await stop.CancelAsync();
            await load;
            var manifest = JsonDocument.Parse(manifestText).RootElement;
            var id = manifest.GetProperty("id").GetString()!;
            output.WriteLine(manifestText);

            var archive = Path.Combine(_root.Path, "backup.tar.gz");
            await using (var file = File.Create(archive))
            await using (var download = await http.GetStreamAsync(new Uri($"api/backups/{id}/archive", UriKind.Relative)))
            {
                await download.CopyToAsync(file);
            }

            var listed = await http.GetFromJsonAsync<JsonElement>(new Uri("api/backups", UriKind.Relative));
            Assert.Equal(id, listed.GetProperty("value").EnumerateArray().Single().GetProperty("id").GetString());
            var identitiesBefore = await IdsAsync(http);

            // A fresh broker from the archive.
            restored = await BrokerProcess.StartAsync(Path.Combine(_root.Path, "b"), $"--Iot:Restore:From={archive}");
            using var http2 = Client(restored);
            Assert.Equal(identitiesBefore, await IdsAsync(http2));
            var queue = await http2.GetFromJsonAsync<JsonElement>(new Uri("api/queues/orders", UriKind.Relative));
            Assert.Equal(10, queue.GetProperty("statistics").GetProperty("active").GetInt64());
            var pending = await http2.GetFromJsonAsync<JsonElement>(new Uri($"api/commands/{commandId}", UriKind.Relative));
            Assert.Equal("Queued", pending.GetProperty("status").GetString());

            var streams = manifest.GetProperty("stores").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "streams").GetProperty("figures");
            var stream = await http2.GetFromJsonAsync<JsonElement>(new Uri("api/streams/telemetry", UriKind.Relative));
            foreach (var p in stream.GetProperty("partitionOffsets").EnumerateArray())
            {
                var index = p.GetProperty("partition").GetInt32();
                Assert.Equal(streams.GetProperty($"telemetry/{index}").GetInt64(), p.GetProperty("nextOffset").GetInt64());
            }

            var group = await http2.GetFromJsonAsync<JsonElement>(new Uri("api/streams/telemetry/groups/g1", UriKind.Relative));
            var committed = group.GetProperty("partitions").EnumerateArray().Single(p => p.GetProperty("partition").GetInt32() == partition);
            Assert.Equal((7, "seven"), (committed.GetProperty("committedOffset").GetInt64(), committed.GetProperty("metadata").GetString()));

            // The device's credentials, the retained message and the persistent session with its three queued alerts.
            await RestoredState.AssertSessionAndRetainedAsync(restored.MqttPort, password);
        }
        catch
        {
            output.WriteLine("Source broker:\n" + source.Output);
            if (restored is not null)
            {
                output.WriteLine("Restored broker:\n" + restored.Output);
            }

            throw;
        }
        finally
        {
            await source.DisposeAsync();
            if (restored is not null)
            {
                await restored.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Restore_DamagedFileOrDataDirectoryInUse_RefusesToStart_NamingTheCause()
    {
        var source = await BrokerProcess.StartAsync(Path.Combine(_root.Path, "a"));
        string backup;
        try
        {
            using var http = Client(source);
            using var created = await http.PostAsync(new Uri("api/backups", UriKind.Relative), null);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
            backup = Path.Combine(_root.Path, "a", "backups", id);
        }
        finally
        {
            await source.DisposeAsync();
        }

        // A data directory in use is never overwritten.
        var inUse = await StartFailingAsync(Path.Combine(_root.Path, "a"), backup);
        Assert.Contains("is not empty", inUse, StringComparison.Ordinal);

        // One flipped byte in a file is found before anything is copied.
        var database = Path.Combine(backup, "identities.db");
        var bytes = await File.ReadAllBytesAsync(database);
        bytes[^1] ^= 0xFF;
        await File.WriteAllBytesAsync(database, bytes);
        var fresh = Path.Combine(_root.Path, "c");
        var damaged = await StartFailingAsync(fresh, backup);
        Assert.Contains("is damaged: identities.db", damaged, StringComparison.Ordinal);
        Assert.False(Directory.Exists(fresh) && Directory.EnumerateFiles(fresh, "*.db").Any());
    }

    private async Task<string> StartFailingAsync(string dataDir, string backup)
    {
        var environment = new Dictionary<string, string?> { ["Logging__Console__FormatterOptions__ColorBehavior"] = "Disabled" };
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var result = await ChildProcess.RunAsync(dotnet,
            [RepositoryPaths.BrokerDll, "--Iot:Mqtt:Port=0", "--Iot:Http:Port=0", $"--Iot:DataDir={dataDir}", $"--Iot:Restore:From={backup}"],
            TimeSpan.FromSeconds(60), Path.GetDirectoryName(RepositoryPaths.BrokerDll), environment);
        output.WriteLine(result.ToString());
        return StartupFailureTests.AssertOneFailureLine(result);
    }

    private static async Task LoadAsync(int port, ConcurrentBag<string> acknowledged, CancellationToken cancellationToken)
    {
        using var client = await ConnectAsync(port, "load", cleanStart: true);
        for (int i = 0; !cancellationToken.IsCancellationRequested; i++)
        {
            var payload = string.Create(CultureInfo.InvariantCulture, $"{{\"i\":{i}}}");
            try
            {
                await client.PublishAsync(Message($"devices/d{i % 8}/telemetry", payload), cancellationToken);
                acknowledged.Add(payload);
            }
            catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is OperationCanceledException or MQTTnet.Exceptions.MqttCommunicationException)
            {
                // Stopped mid-publish (MQTTnet reports a cancelled request as timed out).
                return;
            }
        }
    }

    private static async Task<int> PartitionWithRecordsAsync(HttpClient http)
    {
        var stream = await http.GetFromJsonAsync<JsonElement>(new Uri("api/streams/telemetry", UriKind.Relative));
        return stream.GetProperty("partitionOffsets").EnumerateArray().First(p => p.GetProperty("nextOffset").GetInt64() >= 10).GetProperty("partition").GetInt32();
    }


    private static HttpClient Client(BrokerProcess broker) =>
        new() { BaseAddress = new Uri($"http://127.0.0.1:{broker.HttpPort}/"), Timeout = TimeSpan.FromSeconds(30) };




}
