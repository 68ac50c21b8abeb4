namespace Iot.Broker.Security.Identities;

/// <summary>
/// The durable copy of the identity registry: <see cref="SqliteIdentityStore"/> in one process, a JetStream key-value
/// bucket in cluster mode (<c>Iot.Broker.Cluster.Security.KeyValueIdentityStore</c>). Identity changes are rare
/// administrative writes; <see cref="IdentityRegistry"/> serialises its own writes.
/// </summary>
internal interface IIdentityStore : IDisposable
{
    /// <summary>Where the identities are kept, for logs (a file path or a bucket name).</summary>
    string Location { get; }

    /// <summary>Every stored identity that can be read, each with its <see cref="Identity.Revision"/>.</summary>
    /// <param name="skipped">
    /// Receives the id of each entry that cannot be read (an unknown role, a value of the wrong type) and why: that
    /// identity cannot log in until it is rotated or created again, and every other identity still loads.
    /// </param>
    /// <param name="cancellationToken">Stops the load.</param>
    ValueTask<IReadOnlyList<Identity>> LoadAllAsync(ICollection<(string Id, string Reason)>? skipped, CancellationToken cancellationToken);

    /// <summary>The stored identity <paramref name="id"/> with its revision, or null when there is none (or it cannot be read).</summary>
    ValueTask<Identity?> LoadAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// Inserts or replaces <paramref name="identity"/>; durable when this returns. Returns the new revision (0 for a
    /// store with a single writer, which keeps none).
    /// </summary>
    /// <param name="identity">The identity to store.</param>
    /// <param name="expectedRevision">
    /// The revision the caller last saw (<see cref="Identity.Revision"/>), 0 when it saw none. A store shared by
    /// several writers refuses a write whose expected revision is no longer the stored one.
    /// </param>
    /// <param name="cancellationToken">Stops waiting (the write may still happen).</param>
    /// <exception cref="IdentityStoreConflictException">Another writer changed the identity since <paramref name="expectedRevision"/>.</exception>
    ValueTask<long> UpsertAsync(Identity identity, long expectedRevision, CancellationToken cancellationToken);

    /// <summary>Deletes the identity; durable when this returns. False when there was none.</summary>
    /// <param name="id">The identity id.</param>
    /// <param name="expectedRevision">As for <see cref="UpsertAsync"/>; 0 deletes whatever is stored.</param>
    /// <param name="cancellationToken">Stops waiting (the delete may still happen).</param>
    /// <exception cref="IdentityStoreConflictException">Another writer changed the identity since <paramref name="expectedRevision"/>.</exception>
    ValueTask<bool> DeleteAsync(string id, long expectedRevision, CancellationToken cancellationToken);
}

/// <summary>Another writer (another cluster node) changed an identity after the revision this write expected.</summary>
internal sealed class IdentityStoreConflictException : Exception
{
    public IdentityStoreConflictException()
    {
    }

    public IdentityStoreConflictException(string message)
        : base(message)
    {
    }

    public IdentityStoreConflictException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
