using System.Runtime.CompilerServices;
using Iot.Messaging.Storage;

namespace Iot.Routing.ClaimCheck;

/// <summary>
/// The default store: one file per blob under a directory of this node, <c>pending/{id}</c> while it is written and
/// <c>blobs/{id}</c> once committed (a rename). Each file is fsynced before it is reported written, and each directory
/// after a name is added to it, so that a kill -9 or a power loss never leaves a committed name without its bytes.
/// </summary>
/// <remarks>
/// A file's last-write time is set to the store's clock when it is written, and is the blob's creation time (a rename
/// keeps it). Per node: in cluster mode the broker refuses this store at start (docs/configuration.md).
/// </remarks>
internal sealed class LocalDirectoryClaimCheckStore : IClaimCheckStore
{
    private const int CopyBufferSize = 81920;

    private readonly string _pending;
    private readonly string _blobs;
    private readonly TimeProvider _time;

    public LocalDirectoryClaimCheckStore(string directory, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentNullException.ThrowIfNull(time);
        Directory = Path.GetFullPath(directory);
        _pending = Path.Combine(Directory, "pending");
        _blobs = Path.Combine(Directory, "blobs");
        _time = time;
    }

    /// <summary>The store's directory (absolute).</summary>
    public string Directory { get; }

    public ClaimCheckStoreKind Kind => ClaimCheckStoreKind.Local;

    public Task InitializeAsync(CancellationToken cancellationToken)
    {
        System.IO.Directory.CreateDirectory(_pending);
        System.IO.Directory.CreateDirectory(_blobs);
        DirectorySync.Flush(Directory);
        return Task.CompletedTask;
    }

    public async Task<long> WritePendingAsync(string id, Stream content, CancellationToken cancellationToken)
    {
        ClaimCheckIds.ThrowIfInvalid(id);
        ArgumentNullException.ThrowIfNull(content);
        if (File.Exists(BlobPath(id)))
        {
            throw new IOException($"Claim-check blob {id} exists already.");
        }

        var path = PendingPath(id);
        long length;
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, CopyBufferSize, FileOptions.Asynchronous);
        await using (file.ConfigureAwait(false))
        {
            await content.CopyToAsync(file, CopyBufferSize, cancellationToken).ConfigureAwait(false);
            await file.FlushAsync(cancellationToken).ConfigureAwait(false);
            file.Flush(flushToDisk: true);
            length = file.Length;
        }

        File.SetLastWriteTimeUtc(path, _time.GetUtcNow().UtcDateTime);
        DirectorySync.Flush(_pending);
        return length;
    }

    public Task<bool> CommitAsync(string id, CancellationToken cancellationToken)
    {
        ClaimCheckIds.ThrowIfInvalid(id);
        try
        {
            File.Move(PendingPath(id), BlobPath(id), overwrite: false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult(false);
        }

        DirectorySync.Flush(_blobs);
        DirectorySync.Flush(_pending);
        return Task.FromResult(true);
    }

    public Task<Stream?> OpenReadAsync(string id, CancellationToken cancellationToken)
    {
        ClaimCheckIds.ThrowIfInvalid(id);
        try
        {
            return Task.FromResult<Stream?>(new FileStream(BlobPath(id), FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete,
                CopyBufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return Task.FromResult<Stream?>(null);
        }
    }

    public Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        ClaimCheckIds.ThrowIfInvalid(id);
        var deleted = TryDelete(BlobPath(id)) | TryDelete(PendingPath(id));
        return Task.FromResult(deleted);
    }

    public async IAsyncEnumerable<ClaimCheckBlob> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var (directory, state) in new[] { (_pending, ClaimCheckBlobState.Pending), (_blobs, ClaimCheckBlobState.Committed) })
        {
            foreach (var info in new DirectoryInfo(directory).EnumerateFiles())
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (ClaimCheckIds.IsValid(info.Name))
                {
                    yield return new ClaimCheckBlob(info.Name, state, info.Length, new DateTimeOffset(info.LastWriteTimeUtc, TimeSpan.Zero));
                }
            }

            await Task.Yield();
        }
    }

    public Uri? CreateReadUri(string id, DateTimeOffset expiresAt) => null;

    private string PendingPath(string id) => Path.Combine(_pending, id);

    private string BlobPath(string id) => Path.Combine(_blobs, id);

    private static bool TryDelete(string path)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        File.Delete(path);
        return true;
    }
}
