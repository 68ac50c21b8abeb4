using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using Iot.Messaging;

namespace Iot.Broker.Security.Identities;

/// <summary>
/// The device and identity registry: an in-memory copy for lock-free reads (MQTT CONNECT, every API request) in
/// front of <see cref="SqliteIdentityStore"/>. Writes are serialised, made durable first, then published in memory,
/// then announced through <see cref="IdentityChanged"/>.
/// </summary>
internal sealed class IdentityRegistry : IDisposable
{
    private readonly SqliteIdentityStore _store;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<IdentityRegistry> _logger;
    private readonly ConcurrentDictionary<string, Identity> _byId = new(StringComparer.Ordinal);

    // SHA-256 of an API key (base64) -> identity id. The key is high-entropy, so looking its hash up in a hash table
    // leaks nothing an attacker can use; the final comparison is constant-time anyway.
    private readonly ConcurrentDictionary<string, string> _byApiKey = new(StringComparer.Ordinal);
    private readonly Lock _writeGate = new();
    private long _lastStamp;

    /// <summary>Loads every identity from <paramref name="store"/>, which the registry then owns.</summary>
    /// <param name="store">The durable copy.</param>
    /// <param name="passwordIterations">PBKDF2 iterations for new password hashes.</param>
    /// <param name="timeProvider">The clock for created and updated times.</param>
    /// <param name="logger">The log.</param>
    public IdentityRegistry(SqliteIdentityStore store, int passwordIterations, TimeProvider timeProvider, ILogger<IdentityRegistry> logger)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentOutOfRangeException.ThrowIfLessThan(passwordIterations, 1);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        _store = store;
        PasswordIterations = passwordIterations;
        _timeProvider = timeProvider;
        _logger = logger;
        var skipped = new List<(string Id, string Reason)>();
        foreach (var identity in store.LoadAll(skipped))
        {
            Publish(null, identity with { Stamp = ++_lastStamp });
        }

        foreach (var (id, reason) in skipped)
        {
            IdentityLog.CorruptIdentitySkipped(logger, store.Path, LogSafe.Escape(id), reason);
        }

        IdentityLog.RegistryOpened(logger, store.Path, _byId.Count);
    }

    /// <summary>
    /// Raised after an identity changed durably (outside the registry's lock). The MQTT side subscribes to close the
    /// live connections of identities that were disabled, deleted, re-keyed or re-roled
    /// (<see cref="IdentityChange.RevokesConnections"/>). Handlers must be quick; exceptions are logged and swallowed.
    /// </summary>
    public event Action<IdentityChange>? IdentityChanged;

    /// <summary>PBKDF2 iterations for new password hashes (<c>Iot:Security:PasswordIterations</c>).</summary>
    public int PasswordIterations { get; }

    /// <summary>The number of identities.</summary>
    public int Count => _byId.Count;

    /// <summary>Every identity, ordered by id.</summary>
    public IReadOnlyList<Identity> List()
    {
        var list = _byId.Values.ToList();
        list.Sort(static (a, b) => string.CompareOrdinal(a.Id, b.Id));
        return list;
    }

    /// <summary>Finds an identity by id (exact, case-sensitive).</summary>
    public bool TryGet(string id, [NotNullWhen(true)] out Identity? identity)
    {
        ArgumentNullException.ThrowIfNull(id);
        return _byId.TryGetValue(id, out identity);
    }

    /// <summary>Finds the identity whose API key is <paramref name="apiKey"/> (enabled or not: the caller decides).</summary>
    public bool TryFindByApiKey(string apiKey, [NotNullWhen(true)] out Identity? identity)
    {
        ArgumentNullException.ThrowIfNull(apiKey);
        var hash = SecretHasher.HashApiKey(apiKey);
        if (_byApiKey.TryGetValue(Convert.ToBase64String(hash), out var id)
            && _byId.TryGetValue(id, out var candidate)
            && candidate.ApiKeyHash is { } stored
            && CryptographicOperations.FixedTimeEquals(hash, stored))
        {
            identity = candidate;
            return true;
        }

        identity = null;
        return false;
    }

    /// <summary>
    /// Creates an enabled identity with a new password, and a new API key for service and dashboard identities.
    /// False when the id is taken.
    /// </summary>
    /// <exception cref="ArgumentException">The id is not valid (<see cref="IdentityIds.Validate"/>).</exception>
    public bool TryCreate(string id, IdentityRole role, [NotNullWhen(true)] out Identity? identity, [NotNullWhen(true)] out IssuedCredentials? credentials)
    {
        ThrowIfInvalid(id);
        credentials = Issue(role);
        var passwordHash = SecretHasher.HashPassword(credentials.Password, PasswordIterations);
        lock (_writeGate)
        {
            if (_byId.ContainsKey(id))
            {
                identity = null;
                credentials = null;
                return false;
            }

            var now = _timeProvider.GetUtcNow();
            identity = Commit(null, new Identity(id, role, true, now, now, passwordHash, HashApiKey(credentials.ApiKey)));
        }

        Raise(new IdentityChange(id, IdentityChangeKind.Created));
        return true;
    }

    /// <summary>Enables or disables an identity; false when it does not exist. Setting the current state changes nothing.</summary>
    public bool TrySetEnabled(string id, bool enabled, [NotNullWhen(true)] out Identity? identity)
    {
        ArgumentNullException.ThrowIfNull(id);
        lock (_writeGate)
        {
            if (!_byId.TryGetValue(id, out var current))
            {
                identity = null;
                return false;
            }

            if (current.Enabled == enabled)
            {
                identity = current;
                return true;
            }

            identity = Commit(current, current with { Enabled = enabled, UpdatedAt = _timeProvider.GetUtcNow() });
        }

        Raise(new IdentityChange(id, enabled ? IdentityChangeKind.Enabled : IdentityChangeKind.Disabled));
        return true;
    }

    /// <summary>Deletes an identity; false when it does not exist.</summary>
    public bool TryDelete(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        lock (_writeGate)
        {
            if (!_byId.TryGetValue(id, out var current))
            {
                return false;
            }

            _store.Delete(id);
            Unpublish(current);
        }

        Raise(new IdentityChange(id, IdentityChangeKind.Deleted));
        return true;
    }

    /// <summary>
    /// Replaces the identity's secrets: a new password, and a new API key for service and dashboard identities (a
    /// device loses any configured key). The old ones stop working at once. False when it does not exist.
    /// </summary>
    public bool TryRotateCredentials(string id, [NotNullWhen(true)] out Identity? identity, [NotNullWhen(true)] out IssuedCredentials? credentials)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (!_byId.TryGetValue(id, out var existing))
        {
            identity = null;
            credentials = null;
            return false;
        }

        credentials = Issue(existing.Role);
        var passwordHash = SecretHasher.HashPassword(credentials.Password, PasswordIterations);
        lock (_writeGate)
        {
            if (!_byId.TryGetValue(id, out var current))
            {
                identity = null;
                credentials = null;
                return false;
            }

            if (current.Role != existing.Role)
            {
                // The role changed while hashing (seeding): issue for the role the identity has now.
                credentials = Issue(current.Role);
                passwordHash = SecretHasher.HashPassword(credentials.Password, PasswordIterations);
            }

            identity = Commit(current, current with
            {
                Password = passwordHash,
                ApiKeyHash = HashApiKey(credentials.ApiKey),
                UpdatedAt = _timeProvider.GetUtcNow(),
            });
        }

        Raise(new IdentityChange(id, IdentityChangeKind.CredentialsChanged));
        return true;
    }

    /// <summary>
    /// Applies one configured identity: creates it when missing, otherwise updates its role and any configured
    /// secret that differs from the stored one. Its enabled state is left as it is (an operator may have disabled it).
    /// </summary>
    /// <exception cref="InvalidOperationException">The configured API key already belongs to another identity.</exception>
    public SeedResult Seed(string id, IdentityRole role, string? password, string? apiKey)
    {
        ThrowIfInvalid(id);
        var apiKeyHash = apiKey is null ? null : SecretHasher.HashApiKey(apiKey);
        var changes = new List<IdentityChangeKind>(2);
        SeedResult result;
        lock (_writeGate)
        {
            if (apiKeyHash is not null && _byApiKey.TryGetValue(Convert.ToBase64String(apiKeyHash), out var owner) && owner != id)
            {
                throw new InvalidOperationException(
                    $"Iot:Security:Identities: the API key configured for '{id}' is already the API key of '{owner}'; give each identity its own key.");
            }

            var now = _timeProvider.GetUtcNow();
            if (!_byId.TryGetValue(id, out var current))
            {
                var hash = password is null ? null : SecretHasher.HashPassword(password, PasswordIterations);
                Commit(null, new Identity(id, role, true, now, now, hash, apiKeyHash));
                changes.Add(IdentityChangeKind.Created);
                result = SeedResult.Created;
            }
            else
            {
                var updated = current;
                if (current.Role != role)
                {
                    updated = updated with { Role = role };
                    changes.Add(IdentityChangeKind.RoleChanged);
                }

                var credentialsChanged = false;
                if (password is not null
                    && (current.Password is null || !SecretHasher.VerifyPassword(Encoding.UTF8.GetBytes(password), current.Password)))
                {
                    updated = updated with { Password = SecretHasher.HashPassword(password, PasswordIterations) };
                    credentialsChanged = true;
                }

                if (apiKeyHash is not null && (current.ApiKeyHash is null || !CryptographicOperations.FixedTimeEquals(apiKeyHash, current.ApiKeyHash)))
                {
                    updated = updated with { ApiKeyHash = apiKeyHash };
                    credentialsChanged = true;
                }

                if (credentialsChanged)
                {
                    changes.Add(IdentityChangeKind.CredentialsChanged);
                }

                if (changes.Count == 0)
                {
                    return SeedResult.Unchanged;
                }

                Commit(current, updated with { UpdatedAt = now });
                result = SeedResult.Updated;
            }
        }

        foreach (var kind in changes)
        {
            Raise(new IdentityChange(id, kind));
        }

        return result;
    }

    /// <summary>Closes the store.</summary>
    public void Dispose() => _store.Dispose();

    private static void ThrowIfInvalid(string id)
    {
        if (IdentityIds.Validate(id) is { } error)
        {
            throw new ArgumentException(error, nameof(id));
        }
    }

    private static IssuedCredentials Issue(IdentityRole role) =>
        new(SecretHasher.GeneratePassword(), role is IdentityRole.Service or IdentityRole.Dashboard ? SecretHasher.GenerateApiKey() : null);

    private static byte[]? HashApiKey(string? apiKey) => apiKey is null ? null : SecretHasher.HashApiKey(apiKey);

    /// <summary>Writes <paramref name="updated"/> durably, then replaces <paramref name="current"/> in memory. Call under the write lock.</summary>
    private Identity Commit(Identity? current, Identity updated)
    {
        updated = updated with { Stamp = ++_lastStamp };
        _store.Upsert(updated);
        Publish(current, updated);
        return updated;
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

    private void Raise(IdentityChange change)
    {
        if (IdentityChanged is not { } handlers)
        {
            return;
        }

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

/// <summary>What <see cref="IdentityRegistry.Seed"/> did.</summary>
internal enum SeedResult
{
    /// <summary>The identity already matched the configuration.</summary>
    Unchanged,

    /// <summary>The identity was created.</summary>
    Created,

    /// <summary>The identity's role or secrets were updated.</summary>
    Updated,
}
