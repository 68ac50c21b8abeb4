namespace Iot.Routing.ClaimCheck;

/// <summary>
/// Where claim-checked payloads live: a blob per id, written <see cref="ClaimCheckBlobState.Pending"/> and then
/// <see cref="CommitAsync">committed</see> before any message refers to it. Implementations: a local directory
/// (<see cref="LocalDirectoryClaimCheckStore"/>) and Azure Blob Storage (<see cref="AzureBlobClaimCheckStore"/>);
/// both pass <c>ClaimCheckStoreContractTests</c>.
/// </summary>
/// <remarks>
/// Ids are made by <see cref="ClaimCheckIds.New"/> (32 lowercase hex digits); a store refuses any other id with an
/// <see cref="ArgumentException"/>. Every method is safe to call from several threads and several nodes at once.
/// </remarks>
internal interface IClaimCheckStore
{
    /// <summary>The store's kind as configured (<c>Local</c> or <c>AzureBlob</c>), for logs and metrics.</summary>
    ClaimCheckStoreKind Kind { get; }

    /// <summary>Creates what the store needs (a directory, a container); called once at start.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Writes <paramref name="content"/> as the pending blob <paramref name="id"/> and returns its length once it is
    /// durable (the local store has fsynced it). A blob of that id must not exist.
    /// </summary>
    Task<long> WritePendingAsync(string id, Stream content, CancellationToken cancellationToken);

    /// <summary>Marks the pending blob <paramref name="id"/> committed, durably; false when there is no such pending blob.</summary>
    Task<bool> CommitAsync(string id, CancellationToken cancellationToken);

    /// <summary>Opens the committed blob <paramref name="id"/> for reading; null when there is none (never written, pending or deleted).</summary>
    Task<Stream?> OpenReadAsync(string id, CancellationToken cancellationToken);

    /// <summary>Deletes the blob <paramref name="id"/>, pending or committed; false when there was none.</summary>
    Task<bool> DeleteAsync(string id, CancellationToken cancellationToken);

    /// <summary>Every blob with its state, size and creation time, in no particular order (the sweeper's view).</summary>
    IAsyncEnumerable<ClaimCheckBlob> ListAsync(CancellationToken cancellationToken);

    /// <summary>
    /// A URL that reads the committed blob <paramref name="id"/> without other credentials until
    /// <paramref name="expiresAt"/> (a SAS URL for Azure Blob Storage); null when the store has no such URLs, and the
    /// broker then signs its own (<see cref="ClaimCheckUrlSigner"/>).
    /// </summary>
    Uri? CreateReadUri(string id, DateTimeOffset expiresAt);
}

/// <summary>The store kinds <c>Iot:ClaimCheck:Store</c> names.</summary>
public enum ClaimCheckStoreKind
{
    /// <summary>A directory on this node (<c>Iot:ClaimCheck:Directory</c>); single node only.</summary>
    Local,

    /// <summary>An Azure Blob Storage container (<c>Iot:ClaimCheck:AzureConnectionString</c>, <c>AzureContainer</c>).</summary>
    AzureBlob,
}

/// <summary>A blob's state: written but not yet handed to a message, or committed (a message may refer to it).</summary>
internal enum ClaimCheckBlobState
{
    Pending,
    Committed,
}

/// <summary>One blob as <see cref="IClaimCheckStore.ListAsync"/> reports it.</summary>
internal sealed record ClaimCheckBlob(string Id, ClaimCheckBlobState State, long Length, DateTimeOffset CreatedAt);
