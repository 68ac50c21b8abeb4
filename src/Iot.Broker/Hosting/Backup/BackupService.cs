using System.Formats.Tar;
using System.IO.Compression;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json;
using Iot.Messaging.Storage;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Hosting.Backup;

/// <summary>
/// Online backups of every <see cref="IDurableStore"/> into <see cref="BackupOptions.Directory"/>, one at a time, while
/// the broker serves. Each store's copy is consistent on its own (SQLite's online backup, a prefix of each stream
/// partition); stores are copied one after the other, so a message that reached two stores during the backup may be
/// in one copy and not the other. A backup is written under <c>{id}.partial</c>, its files flushed to the disk with
/// the manifest last, then renamed to <c>{id}</c>: a directory without <c>.partial</c> is complete.
/// </summary>
internal sealed partial class BackupService(
    IEnumerable<IDurableStore> stores, IOptions<BackupOptions> options, IOptions<IotOptions> iot, TimeProvider timeProvider, ILogger<BackupService> logger) : IDisposable
{
    internal static readonly JsonSerializerOptions Json = BackupFiles.Json;
    private readonly SemaphoreSlim _one = new(1, 1);

    /// <summary>Where the backups are.</summary>
    public string Directory { get; } = Path.GetFullPath(options.Value.Directory is { Length: > 0 } directory
        ? directory
        : Path.Combine(iot.Value.DataDir, "backups"));

    public void Dispose() => _one.Dispose();

    /// <summary>Takes a backup now.</summary>
    /// <exception cref="BackupInProgressException">Another backup is running.</exception>
    public async Task<BackupManifest> CreateAsync(CancellationToken cancellationToken)
    {
        if (!await _one.WaitAsync(0, cancellationToken).ConfigureAwait(false))
        {
            throw new BackupInProgressException();
        }

        try
        {
            return await CreateCoreAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _one.Release();
        }
    }

    /// <summary>The complete backups, newest first.</summary>
    public IReadOnlyList<BackupManifest> List()
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            return [];
        }

        return [.. System.IO.Directory.GetDirectories(Directory)
            .Select(Path.GetFileName)
            .Where(name => name is not null && IsId(name))
            .OrderDescending(StringComparer.Ordinal)
            .Select(name => Find(name!))
            .OfType<BackupManifest>()];
    }

    /// <summary>A complete backup's manifest; null when there is none by that id.</summary>
    public BackupManifest? Find(string id)
    {
        if (!IsId(id))
        {
            return null;
        }

        var manifest = Path.Combine(Directory, id, BackupManifest.FileName);
        return File.Exists(manifest) ? JsonSerializer.Deserialize<BackupManifest>(File.ReadAllBytes(manifest), Json) : null;
    }

    /// <summary>Deletes a backup; false when there is none by that id.</summary>
    public bool Delete(string id)
    {
        if (Find(id) is null)
        {
            return false;
        }

        System.IO.Directory.Delete(Path.Combine(Directory, id), recursive: true);
        return true;
    }

    /// <summary>Writes a complete backup as a gzip-compressed tar archive (its files under <c>{id}/</c>).</summary>
    public async Task WriteArchiveAsync(BackupManifest manifest, Stream output, CancellationToken cancellationToken)
    {
        var root = Path.Combine(Directory, manifest.Id);
        await using var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true);
        await using var tar = new TarWriter(gzip, TarEntryFormat.Pax, leaveOpen: true);
        foreach (var file in manifest.Files.Select(f => f.Path).Append(BackupManifest.FileName))
        {
            await tar.WriteEntryAsync(Path.Combine(root, file), manifest.Id + "/" + file, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Whether <paramref name="name"/> has the form of a backup id (and so is safe in a path).</summary>
    public static bool IsId(string name) =>
        name.Length == 19 && name[8] == 'T' && name[^1] == 'Z' && !name.AsSpan(0, 8).ContainsAnyExceptInRange('0', '9')
        && !name.AsSpan(9, 9).ContainsAnyExceptInRange('0', '9');

    private async Task<BackupManifest> CreateCoreAsync(CancellationToken cancellationToken)
    {
        var started = timeProvider.GetUtcNow();
        var id = started.UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var final = Path.Combine(Directory, id);
        var partial = final + ".partial";
        System.IO.Directory.CreateDirectory(partial);
        try
        {
            var copied = new List<BackupStore>();
            foreach (var store in stores)
            {
                copied.Add(new BackupStore(store.Name, await store.BackupAsync(partial, cancellationToken).ConfigureAwait(false)));
            }

            var files = await SealAsync(partial, cancellationToken).ConfigureAwait(false);
            var manifest = new BackupManifest(id, started, timeProvider.GetUtcNow(), Version, copied, files);
            await using (var stream = new FileStream(Path.Combine(partial, BackupManifest.FileName), FileMode.CreateNew, FileAccess.Write))
            {
                await JsonSerializer.SerializeAsync(stream, manifest, Json, cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }

            DirectorySync.Flush(partial);
            System.IO.Directory.Move(partial, final);
            DirectorySync.Flush(Directory);
            Log.Created(logger, id, files.Count, manifest.Bytes, (manifest.CompletedAt - started).TotalSeconds, final);
            Prune();
            return manifest;
        }
        catch
        {
            TryDelete(partial);
            throw;
        }
    }

    /// <summary>Flushes every file of the backup to the disk and lists it with its length and SHA-256.</summary>
    private static async Task<List<BackupFile>> SealAsync(string root, CancellationToken cancellationToken)
    {
        var files = new List<BackupFile>();
        foreach (var path in System.IO.Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            await using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, 81920, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var hash = await SHA256.HashDataAsync(file, cancellationToken).ConfigureAwait(false);
            file.Flush(flushToDisk: true);
            files.Add(new BackupFile(Path.GetRelativePath(root, path).Replace('\\', '/'), file.Length, Convert.ToHexStringLower(hash)));
        }

        foreach (var directory in System.IO.Directory.EnumerateDirectories(root, "*", SearchOption.AllDirectories))
        {
            DirectorySync.Flush(directory);
        }

        return files;
    }

    private void Prune()
    {
        foreach (var old in List().Skip(options.Value.MaxBackups))
        {
            TryDelete(Path.Combine(Directory, old.Id));
            Log.Pruned(logger, old.Id, options.Value.MaxBackups);
        }
    }

    private static void TryDelete(string directory)
    {
        try
        {
            System.IO.Directory.Delete(directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Left for the operator; a .partial directory is never listed.
        }
    }

    private static string Version =>
        typeof(BackupService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    private static partial class Log
    {
        [LoggerMessage(EventId = 1190, Level = LogLevel.Information, Message = "Backup {Id} taken: {Files} files, {Bytes} bytes in {Seconds:0.0} s, at {Path}")]
        public static partial void Created(ILogger logger, string id, int files, long bytes, double seconds, string path);

        [LoggerMessage(EventId = 1191, Level = LogLevel.Information, Message = "Backup {Id} deleted: Iot:Backup:MaxBackups is {MaxBackups}")]
        public static partial void Pruned(ILogger logger, string id, int maxBackups);
    }
}

/// <summary>A backup was asked for while another was running (HTTP 409).</summary>
internal sealed class BackupInProgressException() : InvalidOperationException("A backup is already running; try again when it has completed.");
