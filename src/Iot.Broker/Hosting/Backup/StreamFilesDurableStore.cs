using Iot.Streams.Log;

namespace Iot.Broker.Hosting.Backup;

/// <summary>The streams' files (<c>{Iot:Streams:DataDir}</c>, default <c>{Iot:DataDir}/streams</c>) as a <see cref="IDurableStore"/>.</summary>
internal sealed class StreamFilesDurableStore(FileStreamStore store) : IDurableStore
{
    /// <summary>The directory of the streams in a backup, whatever <c>Iot:Streams:DataDir</c> is.</summary>
    public const string BackupDirectory = "streams";

    public string Name => BackupDirectory;

    /// <summary>A probe file written through to the disk in the streams' directory, then deleted (appends share its file system).</summary>
    public async Task ProbeWriteAsync(CancellationToken cancellationToken)
    {
        var probe = Path.Combine(store.Path, ".health-probe");
        await using (var file = new FileStream(probe, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.WriteThrough | FileOptions.Asynchronous))
        {
            await file.WriteAsync("ok"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        }

        File.Delete(probe);
    }

    public Task<IReadOnlyDictionary<string, long>> BackupAsync(string target, CancellationToken cancellationToken) =>
        store.BackupAsync(Path.Combine(target, BackupDirectory), cancellationToken);
}
