using Iot.Streams.Log;

namespace Iot.Broker.Hosting.Backup;

/// <summary>The streams' files (<c>{Iot:Streams:DataDir}</c>, default <c>{Iot:DataDir}/streams</c>) as a <see cref="IDurableStore"/>.</summary>
internal sealed class StreamFilesDurableStore(FileStreamStore store) : IDurableStore
{
    /// <summary>The directory of the streams in a backup, whatever <c>Iot:Streams:DataDir</c> is.</summary>
    public const string BackupDirectory = BackupFiles.StreamsDirectory;

    public string Name => BackupDirectory;

    /// <summary>A probe file written through to the disk in the streams' directory, then deleted (appends share its file system).</summary>
    public Task ProbeWriteAsync(CancellationToken cancellationToken) => Health.ProbeFile.WriteAsync(store.Path, cancellationToken);

    public Task<IReadOnlyDictionary<string, long>> BackupAsync(string target, CancellationToken cancellationToken) =>
        store.BackupAsync(Path.Combine(target, BackupDirectory), cancellationToken);
}
