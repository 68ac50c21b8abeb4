using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;

namespace Iot.Broker.Hosting.Backup;

/// <summary>
/// A backup's files, read without a broker: check them against the manifest, extract an archive, and copy a single
/// broker's backup into an empty data directory. Shared by the broker's restore at start (<c>Iot:Restore:From</c>)
/// and the CLI's offline <c>iot backups restore</c> (linked into src/Iot.Cli), so both restore the same way; it uses
/// nothing but the base library.
/// </summary>
internal static class BackupFiles
{
    /// <summary>The directory of a backup (and of a data directory) that holds the streams.</summary>
    public const string StreamsDirectory = "streams";

    /// <summary>The store name of a cluster backup's JetStream snapshots.</summary>
    public const string JetStreamDirectory = "jetstream";

    /// <summary>The file, in the data directory, that records the restored backup.</summary>
    public const string MarkerFile = "restored.json";

    /// <summary>How manifests are written and read.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>Whether <paramref name="path"/> names an archive (<c>.tar.gz</c>, <c>.tgz</c>) rather than a backup directory.</summary>
    public static bool IsArchive(string path) =>
        path.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether the backup was taken in cluster mode (it holds JetStream snapshots).</summary>
    public static bool IsCluster(BackupManifest manifest) => manifest.Stores.Any(s => s.Name == JetStreamDirectory);

    /// <summary>Reads the manifest and checks every file it lists (length and SHA-256); the files are safe relative paths.</summary>
    /// <param name="source">The backup's directory.</param>
    /// <param name="origin">What named the backup, for the messages (a setting or a command).</param>
    public static BackupManifest Verify(string source, string origin)
    {
        var manifestPath = Path.Combine(source, BackupManifest.FileName);
        if (!File.Exists(manifestPath))
        {
            throw new InvalidOperationException($"{source} ({origin}) is not a backup: it has no {BackupManifest.FileName}.");
        }

        var manifest = JsonSerializer.Deserialize<BackupManifest>(File.ReadAllBytes(manifestPath), Json)
            ?? throw new InvalidOperationException($"{manifestPath} ({origin}) is empty.");
        var root = Path.GetFullPath(source) + Path.DirectorySeparatorChar;
        foreach (var file in manifest.Files)
        {
            var path = Path.GetFullPath(Path.Combine(source, file.Path));
            if (!path.StartsWith(root, StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"backup {manifest.Id} ({origin}) lists a file outside it: {file.Path}.");
            }

            using var stream = File.OpenRead(path);
            var hash = Convert.ToHexStringLower(SHA256.HashData(stream));
            if (stream.Length != file.Bytes || hash != file.Sha256)
            {
                throw new InvalidOperationException($"backup {manifest.Id} ({origin}) is damaged: {file.Path} does not match its manifest (length or SHA-256).");
            }
        }

        return manifest;
    }

    /// <summary>
    /// Extracts an archive next to <paramref name="dataDir"/> (same file system) and returns the backup's directory in
    /// it; the caller deletes its parent (<see cref="DeleteStaging"/>).
    /// </summary>
    public static string Extract(string archive, string dataDir, string origin)
    {
        if (!File.Exists(archive))
        {
            throw new InvalidOperationException($"the backup archive '{archive}' ({origin}) does not exist.");
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
                : throw new InvalidOperationException($"the archive '{archive}' ({origin}) does not hold exactly one backup directory.");
        }
        catch
        {
            Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    /// <summary>Deletes what <see cref="Extract"/> made.</summary>
    public static void DeleteStaging(string extracted) => Directory.Delete(Path.GetDirectoryName(extracted)!, recursive: true);

    /// <summary>
    /// Copies a verified single-broker backup into <paramref name="dataDir"/>, which must be empty or absent (the
    /// streams into <paramref name="streamsDir"/>), and writes <see cref="MarkerFile"/> last.
    /// </summary>
    public static void CopyInto(string source, BackupManifest manifest, string dataDir, string streamsDir, string from, string origin)
    {
        if (Directory.Exists(dataDir) && Directory.EnumerateFileSystemEntries(dataDir).Any())
        {
            throw new InvalidOperationException(
                $"cannot restore backup {manifest.Id} ({origin}): the data directory '{dataDir}' is not empty; restore into an empty or new directory.");
        }

        foreach (var file in manifest.Files)
        {
            var target = file.Path.StartsWith(StreamsDirectory + "/", StringComparison.Ordinal)
                ? Path.Combine(streamsDir, file.Path[(StreamsDirectory.Length + 1)..])
                : Path.Combine(dataDir, file.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(Path.Combine(source, file.Path), target);
        }

        File.WriteAllText(Path.Combine(dataDir, MarkerFile), JsonSerializer.Serialize(new { id = manifest.Id, createdAt = manifest.CreatedAt, from }));
    }

    /// <summary>The id of the backup <paramref name="dataDir"/> was restored from; null when none.</summary>
    public static string? RestoredId(string dataDir)
    {
        var marker = Path.Combine(dataDir, MarkerFile);
        return File.Exists(marker) ? JsonSerializer.Deserialize<JsonElement>(File.ReadAllBytes(marker)).GetProperty("id").GetString() : null;
    }
}
