using System.Formats.Tar;
using System.IO.Compression;
using Iot.TestUtilities;

namespace Iot.Cli.Tests;

/// <summary><c>iot backups</c> against a real broker: take, list, show, download the archive a restore takes, delete.</summary>
[Collection(CliBrokerCollectionDefinition.Name)]
[Trait("Category", "Integration")]
public sealed class BackupsCliTests(CliBrokerFixture broker) : IDisposable
{
    private readonly TempDirectory _downloads = new("iot-cli-backup");

    public void Dispose() => _downloads.Dispose();

    [Fact]
    public async Task CreateListGetDownloadDelete()
    {
        var created = (await broker.IotAsync("backups", "create")).ExpectExit(0);
        var id = created.Property("Id");
        Assert.Matches("^[0-9]{8}T[0-9]{9}Z$", id);
        Assert.StartsWith("bytes=", created.Property("Store identities.db"), StringComparison.Ordinal);

        var list = (await broker.IotAsync("backups", "list", "--json")).ExpectExit(0).Json();
        Assert.Contains(list.GetProperty("value").EnumerateArray(), b => b.GetProperty("id").GetString() == id);
        Assert.Contains((await broker.IotAsync("backups", "list")).ExpectExit(0).OutputLines, l => l.StartsWith(id + " ", StringComparison.Ordinal));
        Assert.Equal(id, (await broker.IotAsync("backups", "get", id, "--json")).ExpectExit(0).Json().GetProperty("id").GetString());

        // The archive holds the manifest and the stores' files under {id}/.
        var file = Path.Combine(_downloads.Path, "b.tar.gz");
        var downloaded = (await broker.IotAsync("backups", "download", id, "--output", file)).ExpectExit(0);
        Assert.Contains("--Iot:Restore:From=", downloaded.StandardOutput, StringComparison.Ordinal);
        var names = new List<string>();
        await using (var gzip = new GZipStream(File.OpenRead(file), CompressionMode.Decompress))
        await using (var tar = new TarReader(gzip))
        {
            while (await tar.GetNextEntryAsync() is { } entry)
            {
                names.Add(entry.Name);
            }
        }

        Assert.Contains($"{id}/manifest.json", names);
        Assert.Contains($"{id}/identities.db", names);
        Assert.Contains($"{id}/queues.db", names);

        // Restored offline into an empty data directory, a broker starts on it with the same identities; a directory in use is refused.
        var restoredDir = Path.Combine(_downloads.Path, "restored");
        var restored = (await CliProcess.RunAsync(null, "backups", "restore", file, "--data-dir", restoredDir)).ExpectExit(0);
        Assert.Contains($"Restored backup {id}", restored.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("is not empty", (await CliProcess.RunAsync(null, "backups", "restore", file, "--data-dir", restoredDir)).ExpectExit(2).StandardError,
            StringComparison.Ordinal);
        var identities = (await broker.IotAsync("devices", "list", "--json")).ExpectExit(0).Json().EnumerateArray().Select(d => d.GetProperty("id").GetString()).Order().ToList();
        await using (var fresh = await BrokerProcess.StartAsync(restoredDir))
        {
            var restoredIdentities = (await CliProcess.RunAsync(null, "--url", $"http://127.0.0.1:{fresh.HttpPort}", "devices", "list", "--json")).ExpectExit(0)
                .Json().EnumerateArray().Select(d => d.GetProperty("id").GetString()).Order().ToList();
            Assert.Equal(identities, restoredIdentities);
        }

        // Backups need a service identity, reads included.
        var refused = (await CliProcess.RunAsync(null, "--url", broker.Url, "--api-key", broker.DashboardKey, "backups", "list")).ExpectExit(1);
        Assert.StartsWith("error: 403", refused.StandardError, StringComparison.Ordinal);

        Assert.Contains($"Deleted backup '{id}'", (await broker.IotAsync("backups", "delete", id)).ExpectExit(0).StandardOutput, StringComparison.Ordinal);
        Assert.StartsWith("error: 404", (await broker.IotAsync("backups", "get", id)).ExpectExit(1).StandardError, StringComparison.Ordinal);
    }
}
