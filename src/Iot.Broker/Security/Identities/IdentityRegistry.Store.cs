using System.Security.Cryptography;
using Iot.Messaging;

namespace Iot.Broker.Security.Identities;

/// <summary>The registry's side facing its store: loading, the write loop, and changes made by other nodes.</summary>
internal sealed partial class IdentityRegistry
{
    /// <summary>How often a write re-reads a changed identity and decides again before it gives up with a conflict.</summary>
    internal const int MaxWriteAttempts = 5;

    // Ids deleted here or by another node -> the newest revision known at the deletion: a replicated value of that
    // revision or older, arriving after the deletion, is stale and must not bring the identity back. Under _writeGate.
    private readonly Dictionary<string, long> _deletedAt = new(StringComparer.Ordinal);
    private readonly Lock _loadGate = new();
    private Task? _loading;

    /// <summary>The highest store revision this registry has seen (0 for a store that keeps none).</summary>
    public long LastRevision { get; private set; }

    /// <summary>The highest revision <see cref="LoadAsync"/> read: a follower of the store resumes after it.</summary>
    public long LoadedRevision { get; private set; }

    /// <summary>Reads every identity from the store, once: later calls wait for the first.</summary>
    public Task LoadAsync(CancellationToken cancellationToken = default)
    {
        lock (_loadGate)
        {
            return _loading ??= LoadCoreAsync(cancellationToken);
        }
    }

    private async Task LoadCoreAsync(CancellationToken cancellationToken)
    {
        var skipped = new List<(string Id, string Reason)>();
        var identities = await _store.LoadAllAsync(skipped, cancellationToken).ConfigureAwait(false);
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var identity in identities)
            {
                Publish(null, identity with { Stamp = ++_lastStamp });
                LastRevision = Math.Max(LastRevision, identity.Revision);
                LoadedRevision = Math.Max(LoadedRevision, identity.Revision);
            }
        }
        finally
        {
            _writeGate.Release();
        }

        foreach (var (id, reason) in skipped)
        {
            IdentityLog.CorruptIdentitySkipped(_logger, _store.Location, LogSafe.Escape(id), reason);
        }

        IdentityLog.RegistryOpened(_logger, _store.Location, _byId.Count);
    }

    /// <summary>
    /// Applies a change another writer (another cluster node) made to the store: <paramref name="stored"/> is the new
    /// value with its revision, or null when the identity was deleted at <paramref name="revision"/>. Changes this
    /// registry already has (its own writes coming back, older values) are ignored; the others are published and raise
    /// <see cref="IdentityChanged"/> as a local change would.
    /// </summary>
    public async Task ApplyStoredAsync(string id, Identity? stored, long revision, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        IdentityChangeKind[] changes;
        await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            changes = ApplyStored(id, stored, revision);
        }
        finally
        {
            _writeGate.Release();
        }

        Raise(id, changes);
    }

    /// <summary>Under <see cref="_writeGate"/>: publishes a stored value if it is newer than what this registry has.</summary>
    private IdentityChangeKind[] ApplyStored(string id, Identity? stored, long revision)
    {
        LastRevision = Math.Max(LastRevision, revision);
        _byId.TryGetValue(id, out var current);
        if (current is not null && revision != 0 && current.Revision >= revision)
        {
            return [];
        }

        if (stored is null)
        {
            _deletedAt[id] = Math.Max(revision, current?.Revision ?? 0);
            if (current is null)
            {
                return [];
            }

            Unpublish(current);
            return [IdentityChangeKind.Deleted];
        }

        if (current is null && _deletedAt.TryGetValue(id, out var deletedAt) && revision <= deletedAt)
        {
            return [];
        }

        _deletedAt.Remove(id);
        Publish(current, stored with { Revision = revision, Stamp = ++_lastStamp });
        return Differences(current, stored);
    }

    /// <summary>The changes from <paramref name="before"/> to <paramref name="after"/>, as a local write would have raised them.</summary>
    private static IdentityChangeKind[] Differences(Identity? before, Identity after)
    {
        if (before is null)
        {
            return [IdentityChangeKind.Created];
        }

        var changes = new List<IdentityChangeKind>(3);
        if (before.Enabled != after.Enabled)
        {
            changes.Add(after.Enabled ? IdentityChangeKind.Enabled : IdentityChangeKind.Disabled);
        }

        if (before.Role != after.Role)
        {
            changes.Add(IdentityChangeKind.RoleChanged);
        }

        if (!SameSecret(before.Password?.Hash, after.Password?.Hash) || !SameSecret(before.Password?.Salt, after.Password?.Salt)
            || !SameSecret(before.ApiKeyHash, after.ApiKeyHash))
        {
            changes.Add(IdentityChangeKind.CredentialsChanged);
        }

        return [.. changes];
    }

    private static bool SameSecret(byte[]? a, byte[]? b) =>
        a is null ? b is null : b is not null && CryptographicOperations.FixedTimeEquals(a, b);

    /// <summary>
    /// One change of identity <paramref name="id"/>: under the write gate, <paramref name="plan"/> decides from the
    /// current value what to write (null: nothing); the store writes it expecting the revision this registry saw; then
    /// it is published and, outside the gate, raised. When another node changed the identity first, the stored value
    /// is read and applied (raising its own events) and <paramref name="plan"/> decides again, so no update is lost.
    /// </summary>
    /// <exception cref="IdentityStoreConflictException">The identity kept changing under <see cref="MaxWriteAttempts"/> attempts.</exception>
    private async Task<WriteOutcome> WriteAsync(string id, Func<Identity?, IdentityWrite?> plan, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            Identity? current;
            Identity? committed = null;
            IdentityWrite? write;
            var conflict = false;
            await _writeGate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                _byId.TryGetValue(id, out current);
                write = plan(current);
                if (write is null)
                {
                    return new WriteOutcome(current, null, false);
                }

                try
                {
                    committed = await CommitAsync(id, current, write.Next, cancellationToken).ConfigureAwait(false);
                }
                catch (IdentityStoreConflictException) when (attempt < MaxWriteAttempts)
                {
                    conflict = true;
                }
            }
            finally
            {
                _writeGate.Release();
            }

            if (conflict)
            {
                IdentityLog.WriteConflict(_logger, id, attempt);
                var stored = await _store.LoadAsync(id, cancellationToken).ConfigureAwait(false);
                await ApplyStoredAsync(id, stored, stored?.Revision ?? 0, cancellationToken).ConfigureAwait(false);
                continue;
            }

            Raise(id, write.Changes);
            return new WriteOutcome(current, committed, true);
        }
    }

    /// <summary>Writes durably, then publishes in memory. Under <see cref="_writeGate"/>.</summary>
    private async Task<Identity?> CommitAsync(string id, Identity? current, Identity? next, CancellationToken cancellationToken)
    {
        var expected = current?.Revision ?? 0;
        if (next is null)
        {
            await _store.DeleteAsync(id, expected, cancellationToken).ConfigureAwait(false);
            _deletedAt[id] = expected;
            Unpublish(current!);
            return null;
        }

        var revision = await _store.UpsertAsync(next, expected, cancellationToken).ConfigureAwait(false);
        LastRevision = Math.Max(LastRevision, revision);
        _deletedAt.Remove(id);
        var committed = next with { Revision = revision, Stamp = ++_lastStamp };
        Publish(current, committed);
        return committed;
    }

    private void Publish(Identity? current, Identity updated)
    {
        if (current?.ApiKeyHash is { } oldKey)
        {
            _byApiKey.TryRemove(Convert.ToBase64String(oldKey), out _);
        }

        _byId[updated.Id] = updated;
        if (updated.ApiKeyHash is { } newKey)
        {
            _byApiKey[Convert.ToBase64String(newKey)] = updated.Id;
        }
    }

    private void Unpublish(Identity current)
    {
        _byId.TryRemove(current.Id, out _);
        if (current.ApiKeyHash is { } key)
        {
            _byApiKey.TryRemove(Convert.ToBase64String(key), out _);
        }
    }

    private void Raise(string id, IdentityChangeKind[] kinds)
    {
        if (kinds.Length == 0 || IdentityChanged is not { } handlers)
        {
            return;
        }

        foreach (var kind in kinds)
        {
            var change = new IdentityChange(id, kind);
            foreach (var handler in handlers.GetInvocationList().Cast<Action<IdentityChange>>())
            {
                try
                {
                    handler(change);
                }
#pragma warning disable CA1031 // A subscriber's bug must not undo or fail a change that is already durable.
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    IdentityLog.ChangeHandlerFailed(_logger, ex, change.IdentityId, change.Kind);
                }
            }
        }
    }

    /// <summary>What one write stores: the next value (null: delete) and the changes it raises.</summary>
    private sealed record IdentityWrite(Identity? Next, IdentityChangeKind[] Changes);

    /// <summary>What <see cref="WriteAsync"/> did: the value it found, the one it committed, and whether it wrote.</summary>
    private readonly record struct WriteOutcome(Identity? Current, Identity? Committed, bool Written);
}
