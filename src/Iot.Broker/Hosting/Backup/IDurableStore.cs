namespace Iot.Broker.Hosting.Backup;

/// <summary>
/// A store whose files live under the data directory (single-process mode): it proves that it can take a write (the
/// readiness probe, <see cref="Health.StoresHealthCheck"/>) and copies itself, consistently, while it serves (the
/// online backup, <see cref="BackupService"/>). The copy has the data directory's layout, so a backup is itself a data
/// directory a broker can start on.
/// </summary>
internal interface IDurableStore
{
    /// <summary>The store's name in reports and manifests (<c>mqtt.db</c>, <c>streams</c>, ...).</summary>
    string Name { get; }

    /// <summary>Writes something small to the store's files, durably (through to the disk), and removes nothing a client wrote.</summary>
    /// <exception cref="Exception">Any failure: the store cannot take a write.</exception>
    Task ProbeWriteAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Copies the store, as of one point in time, under <paramref name="target"/> (a data directory being built),
    /// without stopping writers, and returns what the copy holds (offsets, row counts) for the manifest.
    /// </summary>
    Task<IReadOnlyDictionary<string, long>> BackupAsync(string target, CancellationToken cancellationToken);
}
