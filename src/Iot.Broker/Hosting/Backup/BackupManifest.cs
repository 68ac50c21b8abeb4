namespace Iot.Broker.Hosting.Backup;

/// <summary>
/// <c>manifest.json</c> of a backup: when it was taken, what each store's copy holds (for instance each stream
/// partition's next offset) and every file with its length and SHA-256, which a restore verifies first.
/// </summary>
/// <param name="Id">The backup's id: its UTC start time, <c>yyyyMMddTHHmmssfffZ</c> (sorts by age).</param>
/// <param name="CreatedAt">When the backup started.</param>
/// <param name="CompletedAt">When its last file was written.</param>
/// <param name="Version">The broker version that took it.</param>
/// <param name="Stores">Each store copied, with its figures.</param>
/// <param name="Files">Every file, relative to the backup's directory (<c>/</c> separated).</param>
public sealed record BackupManifest(
    string Id, DateTimeOffset CreatedAt, DateTimeOffset CompletedAt, string Version, IReadOnlyList<BackupStore> Stores, IReadOnlyList<BackupFile> Files)
{
    /// <summary>The manifest's file name in a backup.</summary>
    public const string FileName = "manifest.json";

    /// <summary>The total size of the files.</summary>
    public long Bytes => Files.Sum(f => f.Bytes);
}

/// <summary>A store in a backup.</summary>
/// <param name="Name">Its name (<c>mqtt.db</c>, <c>streams</c>, ...).</param>
/// <param name="Figures">What the copy holds (<c>bytes</c>; for streams <c>{stream}/{partition}</c>: next offset).</param>
public sealed record BackupStore(string Name, IReadOnlyDictionary<string, long> Figures);

/// <summary>A file of a backup.</summary>
/// <param name="Path">Relative to the backup's directory, <c>/</c> separated.</param>
/// <param name="Bytes">Its length.</param>
/// <param name="Sha256">Its SHA-256, lowercase hex.</param>
public sealed record BackupFile(string Path, long Bytes, string Sha256);
