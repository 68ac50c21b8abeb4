namespace Iot.Broker.Hosting.Audit;

/// <summary>
/// The audit trail of administrative changes: appended durably, read newest first, trimmed by age and count. One
/// implementation today (<see cref="SqliteAuditLog"/>, <c>audit.db</c>); its contract tests are
/// <c>AuditLogContractTests</c>, for any other to inherit.
/// </summary>
public interface IAuditLog
{
    /// <summary>Stores an entry; completes once it is on disk. Returns it with its sequence.</summary>
    Task<AuditEntry> AppendAsync(AuditEntry entry, CancellationToken cancellationToken = default);

    /// <summary>Entries matching <paramref name="query"/>, newest first.</summary>
    Task<IReadOnlyList<AuditEntry>> QueryAsync(AuditQuery query, CancellationToken cancellationToken = default);

    /// <summary>Deletes the entries older than <paramref name="before"/>, then the oldest beyond <paramref name="maxEntries"/>; returns how many.</summary>
    Task<long> TrimAsync(DateTimeOffset before, long maxEntries, CancellationToken cancellationToken = default);
}

/// <summary>A read of the audit log; every filter is optional.</summary>
/// <param name="Since">Entries at or after this time.</param>
/// <param name="Until">Entries before this time.</param>
/// <param name="Actor">Exactly this actor.</param>
/// <param name="ActionContains">Actions containing this text (e.g. <c>/api/devices</c>, <c>DELETE</c>).</param>
/// <param name="BeforeSequence">Entries older than this sequence (paging: the last sequence of the previous page).</param>
/// <param name="Limit">At most this many (1-1000).</param>
public sealed record AuditQuery(
    DateTimeOffset? Since = null, DateTimeOffset? Until = null, string? Actor = null, string? ActionContains = null, long? BeforeSequence = null, int Limit = 100);
