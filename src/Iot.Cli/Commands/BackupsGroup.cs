using System.CommandLine;
using Iot.Cli.Http;
using Iot.Broker.Hosting.Backup;
using Iot.Cli.Output;

namespace Iot.Cli.Commands;

/// <summary><c>iot backups</c>: online backups through <c>/api/backups</c>, and the offline restore of a single broker's backup into an empty data directory.</summary>
internal sealed class BackupsGroup : CommandGroup
{
    /// <inheritdoc/>
    public override Command Create(CliActions cli)
    {
        var id = CliOptions.Text("id", "The backup's id (its UTC start time, as listed).");
        var output = new Option<string?>("--output", "-o") { Description = "The file to write (default iot-backup-{id}.tar.gz in the current directory)." };
        var backup = CliOptions.Text("backup", "A backup: its directory, or the .tar.gz that 'download' wrote.");
        var dataDir = new Option<string>("--data-dir") { Description = "The broker's data directory (Iot:DataDir) to restore into: empty or new.", Required = true };
        var streamsDir = new Option<string?>("--streams-dir") { Description = "Where the streams go (Iot:Streams:DataDir; default {data-dir}/streams)." };
        return Command("backups", "Online backups: take, list, show, download, delete; restore a single broker's backup into an empty data directory (or start a broker with --Iot:Restore:From=<archive>).",
            cli.Run(Command("create", "Take a backup now, while the broker serves; prints its manifest's summary."), async (c, ct) =>
            {
                var response = await c.Api.SendJsonAsync(HttpMethod.Post, "/api/backups", null, ct).ConfigureAwait(false);
                return c.PrintProperties(response, Properties);
            }),
            cli.Run(Command("list", "List the backups, newest first."), async (c, ct) =>
            {
                var response = await c.Api.GetAsync("/api/backups", ct).ConfigureAwait(false);
                return c.Print(response, json =>
                {
                    var table = new Table("id", "created", "completed", "files", "bytes", "version");
                    foreach (var backup in CliJson.Items(CliJson.Get(json, "value")))
                    {
                        table.Add(CliJson.Show(backup, "id"), CliJson.Time(backup, "createdAt"), CliJson.Time(backup, "completedAt"),
                            CliJson.Items(CliJson.Get(backup, "files")).Count().ToString(System.Globalization.CultureInfo.InvariantCulture),
                            CliJson.Show(backup, "bytes"), CliJson.Show(backup, "version"));
                    }

                    table.Write(c.Out);
                });
            }),
            cli.Run(Command("get", "Show a backup's manifest: each store and what its copy holds.", id), async (c, ct) =>
            {
                var response = await c.Api.GetAsync(Path(c.Get(id)), ct).ConfigureAwait(false);
                return c.PrintProperties(response, Properties);
            }),
            cli.Run(Command("download", "Download a backup as .tar.gz (the file Iot:Restore:From takes).", id, output), async (c, ct) =>
            {
                var file = c.Get(output) ?? $"iot-backup-{c.Get(id)}.tar.gz";
                var partial = file + ".partial";
                long bytes;
                await using (var stream = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None))
                {
                    bytes = await c.Api.DownloadAsync(Path(c.Get(id)) + "/archive", stream, ct).ConfigureAwait(false);
                }

                File.Move(partial, file, overwrite: true);
                c.Note($"Wrote {file} ({bytes} bytes). Restore: start a broker on an empty data directory with --Iot:Restore:From={System.IO.Path.GetFullPath(file)}");
                return ExitCodes.Ok;
            }),
            cli.Run(Command("restore", "Restore a single broker's backup (a directory or .tar.gz) into an empty data directory, offline: every file is checked against the manifest first; then start the broker on it.", backup, dataDir, streamsDir), (c, ct) =>
            {
                var restored = Restore(c.Get(backup), c.Get(dataDir), c.Get(streamsDir));
                c.Note($"Restored backup {restored} into {System.IO.Path.GetFullPath(c.Get(dataDir))}. Start the broker with --Iot:DataDir={System.IO.Path.GetFullPath(c.Get(dataDir))}");
                return Task.FromResult(ExitCodes.Ok);
            }),
            cli.Run(Command("delete", "Delete a backup.", id), async (c, ct) =>
            {
                await c.Api.SendJsonAsync(HttpMethod.Delete, Path(c.Get(id)), null, ct).ConfigureAwait(false);
                c.Note($"Deleted backup '{c.Get(id)}'.");
                return ExitCodes.Ok;
            }));
    }

    private static string Path(string id) => "/api/backups/" + Query.Segment(id);

    /// <summary>The broker's own restore of a single broker's backup (<see cref="BackupFiles"/>, linked from src/Iot.Broker); returns the backup's id.</summary>
    private static string Restore(string from, string dataDir, string? streamsDir)
    {
        const string Origin = "iot backups restore";
        var target = System.IO.Path.GetFullPath(dataDir);
        var staging = BackupFiles.IsArchive(from) ? BackupFiles.Extract(System.IO.Path.GetFullPath(from), target, Origin) : null;
        try
        {
            var source = staging ?? System.IO.Path.GetFullPath(from);
            var manifest = BackupFiles.Verify(source, Origin);
            if (BackupFiles.IsCluster(manifest))
            {
                throw new UsageException(
                    $"backup {manifest.Id} was taken in cluster mode: its JetStream streams are restored by the first node of a new cluster, started with --Iot:Restore:From={System.IO.Path.GetFullPath(from)}");
            }

            BackupFiles.CopyInto(source, manifest, target, System.IO.Path.GetFullPath(streamsDir ?? System.IO.Path.Combine(target, BackupFiles.StreamsDirectory)), from, Origin);
            return manifest.Id;
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            throw new UsageException(ex.Message, ex);
        }
        finally
        {
            if (staging is not null)
            {
                BackupFiles.DeleteStaging(staging);
            }
        }
    }

    private static IEnumerable<(string, string?)> Properties(System.Text.Json.JsonElement backup) =>
    [
        ("Id", CliJson.Show(backup, "id")),
        ("Created", CliJson.Time(backup, "createdAt")),
        ("Completed", CliJson.Time(backup, "completedAt")),
        ("Version", CliJson.Show(backup, "version")),
        ("Files", CliJson.Items(CliJson.Get(backup, "files")).Count().ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ("Bytes", CliJson.Show(backup, "bytes")),
        .. CliJson.Items(CliJson.Get(backup, "stores")).Select(store => (
            "Store " + CliJson.Show(store, "name"),
            (string?)string.Join(", ", CliJson.Get(store, "figures").EnumerateObject().Select(f => $"{f.Name}={f.Value}")))),
    ];
}
