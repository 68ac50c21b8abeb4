using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using Iot.Broker.Cluster;
using Iot.Broker.Cluster.Backup;
using NATS.Client.Core;

namespace Iot.Broker.Hosting.Backup;

/// <summary>
/// Restoring a backup at start (<c>Iot:Restore:From</c>: a backup directory or its <c>.tar.gz</c> archive), before any
/// store opens: the data directory must be empty or absent; every file is checked against the manifest (length and
/// SHA-256) before anything is copied; the streams go to <c>Iot:Streams:DataDir</c> (default
/// <c>{Iot:DataDir}/streams</c>), the rest to <c>Iot:DataDir</c>, and <c>restored.json</c> records which backup it
/// was, so that a restart with the setting still in place starts on the restored data instead of failing.
/// A backup taken in cluster mode goes back into JetStream instead (<see cref="JetStreamRestore"/>), and only there.
/// </summary>
internal static class BackupRestore
{
    /// <summary>The setting that names the backup to restore.</summary>
    public const string Setting = "Iot:Restore:From";

    /// <summary>The file, in the data directory, that records the restored backup.</summary>
    public const string MarkerFile = "restored.json";

    /// <summary>Restores when <see cref="Setting"/> is set; returns the restored backup's id, or null when nothing was done.</summary>
    /// <exception cref="InvalidOperationException">The backup is unusable or the data directory is not empty; the message names the setting.</exception>
    public static string? RestoreIfConfigured(IConfiguration configuration)
    {
        if (configuration[Setting] is not { Length: > 0 } from)
        {
            return null;
        }

        var dataDir = Path.GetFullPath(configuration[$"{IotOptions.SectionName}:DataDir"] is { Length: > 0 } configured ? configured : new IotOptions().DataDir);
        var streamsDir = Path.GetFullPath(configuration["Iot:Streams:DataDir"] is { Length: > 0 } streams ? streams : Path.Combine(dataDir, StreamFilesDurableStore.BackupDirectory));
        var staging = from.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) || from.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase)
            ? Extract(from, dataDir)
            : null;
        try
        {
            var source = staging ?? Path.GetFullPath(from);
            var manifest = Verify(source);
            var cluster = configuration.GetSection(ClusterOptions.SectionName).Get<ClusterOptions>() ?? new ClusterOptions();
            var ofCluster = manifest.Stores.Any(s => s.Name == JetStreamSnapshots.BackupDirectory);
            if (cluster.Enabled != ofCluster)
            {
                throw new InvalidOperationException(cluster.Enabled
                    ? $"cannot restore backup {manifest.Id} ({Setting}) in cluster mode: it was taken by a single broker; restore it into a single broker."
                    : $"cannot restore backup {manifest.Id} ({Setting}) into a single broker: it was taken in cluster mode; start a node with Iot:Cluster:Nats:Url.");
            }

            if (cluster.Enabled)
            {
                return RestoreCluster(cluster, Path.Combine(source, JetStreamSnapshots.BackupDirectory), manifest.Id) ? manifest.Id : null;
            }

            var marker = Path.Combine(dataDir, MarkerFile);
            if (File.Exists(marker) && JsonSerializer.Deserialize<JsonElement>(File.ReadAllBytes(marker)).GetProperty("id").GetString() == manifest.Id)
            {
                return null;
            }

            if (Directory.Exists(dataDir) && Directory.EnumerateFileSystemEntries(dataDir).Any())
            {
                throw new InvalidOperationException(
                    $"cannot restore backup {manifest.Id} ({Setting}): the data directory '{dataDir}' (Iot:DataDir) is not empty; restore into an empty or new directory.");
            }

            foreach (var file in manifest.Files)
            {
                var target = file.Path.StartsWith(StreamFilesDurableStore.BackupDirectory + "/", StringComparison.Ordinal)
                    ? Path.Combine(streamsDir, file.Path[(StreamFilesDurableStore.BackupDirectory.Length + 1)..])
                    : Path.Combine(dataDir, file.Path);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.Copy(Path.Combine(source, file.Path), target);
            }

            File.WriteAllText(marker, JsonSerializer.Serialize(new { id = manifest.Id, createdAt = manifest.CreatedAt, from }));
            return manifest.Id;
        }
        finally
        {
            if (staging is not null)
            {
                Directory.Delete(Path.GetDirectoryName(staging)!, recursive: true);
            }
        }
    }

    /// <summary>Restores a cluster backup into JetStream (<see cref="JetStreamRestore"/>) before the node starts.</summary>
    private static bool RestoreCluster(ClusterOptions cluster, string directory, string backupId)
    {
        try
        {
            return Task.Run(async () =>
            {
                await using var nats = new NatsConnection(ClusterConnection.CreateOpts(cluster, "restore"));
                using var timeout = new CancellationTokenSource(cluster.RequestTimeout * 60);
                await nats.ConnectAsync().ConfigureAwait(false);
                return await JetStreamRestore.RestoreAsync(nats, directory, backupId, cluster.Replicas, cluster.RequestTimeout, timeout.Token).ConfigureAwait(false);
            }).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is InvalidOperationException or NatsException or TimeoutException or OperationCanceledException)
        {
            throw new InvalidOperationException($"restoring backup {backupId} into JetStream failed ({Setting}): {ex.Message}", ex);
        }
    }

    /// <summary>Reads the manifest and checks every file it lists; the files are safe relative paths.</summary>
    private static BackupManifest Verify(string source)
    {
        var manifestPath = Path.Combine(source, BackupManifest.FileName);
        if (!File.Exists(manifestPath))
        {
            throw new InvalidOperationException($"{source} ({Setting}) is not a backup: it has no {BackupManifest.FileName}.");
        }

        var manifest = JsonSerializer.Deserialize<BackupManifest>(File.ReadAllBytes(manifestPath), BackupService.Json)
            ?? throw new InvalidOperationException($"{manifestPath} ({Setting}) is empty.");
        var root = Path.GetFullPath(source) + Path.DirectorySeparatorChar;
        foreach (var file in manifest.Files)
        {
            var path = Path.GetFullPath(Path.Combine(source, file.Path));
            if (!path.StartsWith(root, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"backup {manifest.Id} ({Setting}) lists a file outside it: {file.Path}.");
            }

            using var stream = File.OpenRead(path);
            var hash = Convert.ToHexStringLower(SHA256.HashData(stream));
            if (stream.Length != file.Bytes || hash != file.Sha256)
            {
                throw new InvalidOperationException($"backup {manifest.Id} ({Setting}) is damaged: {file.Path} does not match its manifest (length or SHA-256).");
            }
        }

        return manifest;
    }

    /// <summary>Extracts an archive next to the data directory (same file system) and returns the backup's directory in it.</summary>
    private static string Extract(string archive, string dataDir)
    {
        if (!File.Exists(archive))
        {
            throw new InvalidOperationException($"the backup archive '{archive}' ({Setting}) does not exist.");
        }

        var staging = Path.Combine(Path.GetDirectoryName(dataDir)!, $".{Path.GetFileName(dataDir)}.restore-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            using (var file = File.OpenRead(archive))
            using (var gzip = new GZipStream(file, CompressionMode.Decompress))
            {
                TarFile.ExtractToDirectory(gzip, staging, overwriteFiles: false);
            }

            return Directory.GetDirectories(staging) is [var single] ? single
                : throw new InvalidOperationException($"the archive '{archive}' ({Setting}) does not hold exactly one backup directory.");
        }
        catch
        {
            Directory.Delete(staging, recursive: true);
            throw;
        }
    }
}
