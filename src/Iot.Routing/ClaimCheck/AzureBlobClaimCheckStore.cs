using System.Globalization;
using System.Runtime.CompilerServices;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Sas;

namespace Iot.Routing.ClaimCheck;

/// <summary>
/// Blobs in an Azure Blob Storage container (Azure.Storage.Blobs), one block blob per id whose metadata holds its
/// state (<c>state</c>: <c>pending</c> or <c>committed</c>) and creation time (<c>createdunixms</c>, the broker's clock).
/// Readers get a read-only SAS URL. Shared by every node of a cluster.
/// </summary>
/// <remarks>
/// An upload is atomic (a blob appears whole or not at all) and refused when the name exists (<c>If-None-Match: *</c>);
/// the commit is a metadata write conditional on the ETag read, so two writers never both commit one blob.
/// </remarks>
internal sealed class AzureBlobClaimCheckStore : IClaimCheckStore
{
    private const string StateKey = "state";
    private const string CreatedKey = "createdunixms";
    private const string PendingValue = "pending";
    private const string CommittedValue = "committed";

    private readonly BlobContainerClient _container;
    private readonly TimeProvider _time;

    public AzureBlobClaimCheckStore(BlobContainerClient container, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(container);
        ArgumentNullException.ThrowIfNull(time);
        _container = container;
        _time = time;
    }

    public ClaimCheckStoreKind Kind => ClaimCheckStoreKind.AzureBlob;

    public async Task InitializeAsync(CancellationToken cancellationToken) =>
        await _container.CreateIfNotExistsAsync(PublicAccessType.None, cancellationToken: cancellationToken).ConfigureAwait(false);

    public async Task<long> WritePendingAsync(string id, Stream content, CancellationToken cancellationToken)
    {
        ClaimCheckIds.ThrowIfInvalid(id);
        ArgumentNullException.ThrowIfNull(content);
        var counting = new CountingStream(content);
        await Blob(id).UploadAsync(counting, new BlobUploadOptions
        {
            Metadata = Metadata(PendingValue, _time.GetUtcNow().ToUnixTimeMilliseconds()),
            Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All },
        }, cancellationToken).ConfigureAwait(false);
        return counting.Count;
    }

    public async Task<bool> CommitAsync(string id, CancellationToken cancellationToken)
    {
        ClaimCheckIds.ThrowIfInvalid(id);
        var blob = Blob(id);
        try
        {
            var properties = (await blob.GetPropertiesAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value;
            if (!IsState(properties.Metadata, PendingValue))
            {
                return false;
            }

            await blob.SetMetadataAsync(Metadata(CommittedValue, CreatedUnixMs(properties.Metadata, properties.CreatedOn)),
                new BlobRequestConditions { IfMatch = properties.ETag }, cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (RequestFailedException e) when (e.Status is 404 or 412)
        {
            return false;
        }
    }

    public async Task<Stream?> OpenReadAsync(string id, CancellationToken cancellationToken)
    {
        ClaimCheckIds.ThrowIfInvalid(id);
        try
        {
            var download = (await Blob(id).DownloadStreamingAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value;
            if (IsState(download.Details.Metadata, CommittedValue))
            {
                return download.Content;
            }

            await download.Content.DisposeAsync().ConfigureAwait(false);
            download.Dispose();
            return null;
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        ClaimCheckIds.ThrowIfInvalid(id);
        return (await Blob(id).DeleteIfExistsAsync(cancellationToken: cancellationToken).ConfigureAwait(false)).Value;
    }

    public async IAsyncEnumerable<ClaimCheckBlob> ListAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var item in _container.GetBlobsAsync(new GetBlobsOptions { Traits = BlobTraits.Metadata }, cancellationToken).ConfigureAwait(false))
        {
            if (!ClaimCheckIds.IsValid(item.Name))
            {
                continue;
            }

            var state = IsState(item.Metadata, CommittedValue) ? ClaimCheckBlobState.Committed : ClaimCheckBlobState.Pending;
            var created = DateTimeOffset.FromUnixTimeMilliseconds(CreatedUnixMs(item.Metadata, item.Properties.CreatedOn));
            yield return new ClaimCheckBlob(item.Name, state, item.Properties.ContentLength ?? 0, created);
        }
    }

    public Uri? CreateReadUri(string id, DateTimeOffset expiresAt)
    {
        ClaimCheckIds.ThrowIfInvalid(id);
        var blob = Blob(id);
        return blob.CanGenerateSasUri ? blob.GenerateSasUri(BlobSasPermissions.Read, expiresAt) : null;
    }

    private BlobClient Blob(string id) => _container.GetBlobClient(id);

    private static Dictionary<string, string> Metadata(string state, long createdUnixMs) => new()
    {
        [StateKey] = state,
        [CreatedKey] = createdUnixMs.ToString(CultureInfo.InvariantCulture),
    };

    private static bool IsState(IDictionary<string, string>? metadata, string state) =>
        metadata is not null && metadata.TryGetValue(StateKey, out var value) && value == state;

    private static long CreatedUnixMs(IDictionary<string, string>? metadata, DateTimeOffset? createdOn) =>
        metadata is not null && metadata.TryGetValue(CreatedKey, out var value)
            && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            ? ms
            : (createdOn ?? DateTimeOffset.UnixEpoch).ToUnixTimeMilliseconds();

    /// <summary>Counts what the upload reads, so that the length is known without buffering a stream of unknown length.</summary>
    private sealed class CountingStream(Stream inner) : Stream
    {
        public long Count { get; private set; }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => Count; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = inner.Read(buffer, offset, count);
            Count += read;
            return read;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            Count += read;
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
