using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using Iot.Messaging;

namespace Iot.Broker.Security.Identities;

/// <summary>
/// The device and identity registry: an in-memory copy for lock-free reads (MQTT CONNECT, every API request) in
/// front of an <see cref="IIdentityStore"/>. Writes are serialised, made durable first, then published in memory,
/// then announced through <see cref="IdentityChanged"/>. In cluster mode the store is shared by every node: a write
/// expects the revision this node last saw, and the changes other nodes make arrive through
/// <see cref="ApplyStoredAsync"/> and raise the same events here.
/// </summary>
internal sealed partial class IdentityRegistry : IDisposable
{
    private readonly IIdentityStore _store;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<IdentityRegistry> _logger;
    private readonly ConcurrentDictionary<string, Identity> _byId = new(StringComparer.Ordinal);

    // SHA-256 of an API key (base64) -> identity id. The key is high-entropy, so looking its hash up in a hash table
    // leaks nothing an attacker can use; the final comparison is constant-time anyway.
    private readonly ConcurrentDictionary<string, string> _byApiKey = new(StringComparer.Ordinal);

    /// <summary>Serialises writes, loading and replicated changes; never held while raising <see cref="IdentityChanged"/>.</summary>
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private long _lastStamp;

    /// <summary>Creates the registry on <paramref name="store"/>, which it then owns; <see cref="LoadAsync"/> reads it.</summary>
    /// <param name="store">The durable copy.</param>
    /// <param name="passwordIterations">PBKDF2 iterations for new password hashes.</param>
    /// <param name="timeProvider">The clock for created and updated times.</param>
    /// <param name="logger">The log.</param>
    public IdentityRegistry(IIdentityStore store, int passwordIterations, TimeProvider timeProvider, ILogger<IdentityRegistry> logger)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentOutOfRangeException.ThrowIfLessThan(passwordIterations, 1);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        _store = store;
        PasswordIterations = passwordIterations;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>
    /// Raised after an identity changed durably (outside the registry's lock), whether through this node or, in
    /// cluster mode, another one. The MQTT side subscribes to close the live connections of identities that were
    /// disabled, deleted, re-keyed or re-roled (<see cref="IdentityChange.RevokesConnections"/>). Handlers must be
    /// quick; exceptions are logged and swallowed.
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
    /// Null when the id is taken (on any node).
    /// </summary>
    /// <exception cref="ArgumentException">The id is not valid (<see cref="IdentityIds.Validate"/>).</exception>
    public async Task<IssuedIdentity?> TryCreateAsync(string id, IdentityRole role, CancellationToken cancellationToken = default)
    {
        ThrowIfInvalid(id);
        var credentials = Issue(role);
        var passwordHash = SecretHasher.HashPassword(credentials.Password, PasswordIterations);
        var apiKeyHash = HashApiKey(credentials.ApiKey);
        var outcome = await WriteAsync(id, current =>
        {
            if (current is not null)
            {
                return null;
            }

            var now = _timeProvider.GetUtcNow();
            return new IdentityWrite(new Identity(id, role, true, now, now, passwordHash, apiKeyHash), [IdentityChangeKind.Created]);
        }, cancellationToken).ConfigureAwait(false);
        return outcome.Committed is { } identity ? new IssuedIdentity(identity, credentials) : null;
    }

    /// <summary>Enables or disables an identity; null when it does not exist. Setting the current state changes nothing.</summary>
    public async Task<Identity?> TrySetEnabledAsync(string id, bool enabled, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        var outcome = await WriteAsync(id, current => current is null || current.Enabled == enabled
            ? null
            : new IdentityWrite(current with { Enabled = enabled, UpdatedAt = _timeProvider.GetUtcNow() },
                [enabled ? IdentityChangeKind.Enabled : IdentityChangeKind.Disabled]), cancellationToken).ConfigureAwait(false);
        return outcome.Committed ?? outcome.Current;
    }

    /// <summary>Deletes an identity; false when it does not exist.</summary>
    public async Task<bool> TryDeleteAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        var outcome = await WriteAsync(id, current => current is null ? null : new IdentityWrite(null, [IdentityChangeKind.Deleted]), cancellationToken)
            .ConfigureAwait(false);
        return outcome.Written;
    }

    /// <summary>
    /// Replaces the identity's secrets: a new password, and a new API key for service and dashboard identities (a
    /// device loses any configured key). The old ones stop working at once. Null when it does not exist.
    /// </summary>
    public async Task<IssuedIdentity?> TryRotateCredentialsAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        if (!_byId.TryGetValue(id, out var existing))
        {
            return null;
        }

        var role = existing.Role;
        var credentials = Issue(role);
        var passwordHash = SecretHasher.HashPassword(credentials.Password, PasswordIterations);
        var outcome = await WriteAsync(id, current =>
        {
            if (current is null)
            {
                return null;
            }

            if (current.Role != role)
            {
                // The role changed while hashing (seeding, another node): issue for the role the identity has now.
                role = current.Role;
                credentials = Issue(role);
                passwordHash = SecretHasher.HashPassword(credentials.Password, PasswordIterations);
            }

            return new IdentityWrite(
                current with { Password = passwordHash, ApiKeyHash = HashApiKey(credentials.ApiKey), UpdatedAt = _timeProvider.GetUtcNow() },
                [IdentityChangeKind.CredentialsChanged]);
        }, cancellationToken).ConfigureAwait(false);
        return outcome.Committed is { } identity ? new IssuedIdentity(identity, credentials) : null;
    }

    /// <summary>
    /// Applies one configured identity: creates it when missing, otherwise updates its role and any configured
    /// secret that differs from the stored one. Its enabled state is left as it is (an operator may have disabled it).
    /// Idempotent, also when several cluster nodes apply the same configuration at once.
    /// </summary>
    /// <exception cref="InvalidOperationException">The configured API key already belongs to another identity.</exception>
    public async Task<SeedResult> SeedAsync(string id, IdentityRole role, string? password, string? apiKey, CancellationToken cancellationToken = default)
    {
        ThrowIfInvalid(id);
        var apiKeyHash = apiKey is null ? null : SecretHasher.HashApiKey(apiKey);
        var outcome = await WriteAsync(id, current => PlanSeed(id, current, role, password, apiKeyHash), cancellationToken).ConfigureAwait(false);
        return !outcome.Written ? SeedResult.Unchanged : outcome.Current is null ? SeedResult.Created : SeedResult.Updated;
    }

    /// <summary>What seeding <paramref name="id"/> writes, or null when it already matches. Under the write gate.</summary>
    private IdentityWrite? PlanSeed(string id, Identity? current, IdentityRole role, string? password, byte[]? apiKeyHash)
    {
        if (apiKeyHash is not null && _byApiKey.TryGetValue(Convert.ToBase64String(apiKeyHash), out var owner) && owner != id)
        {
            throw new InvalidOperationException(
                $"Iot:Security:Identities: the API key configured for '{id}' is already the API key of '{owner}'; give each identity its own key.");
        }

        var now = _timeProvider.GetUtcNow();
        if (current is null)
        {
            var hash = password is null ? null : SecretHasher.HashPassword(password, PasswordIterations);
            return new IdentityWrite(new Identity(id, role, true, now, now, hash, apiKeyHash), [IdentityChangeKind.Created]);
        }

        var changes = new List<IdentityChangeKind>(2);
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

        return changes.Count == 0 ? null : new IdentityWrite(updated with { UpdatedAt = now }, [.. changes]);
    }

    /// <summary>Closes the store.</summary>
    public void Dispose()
    {
        _store.Dispose();
        _writeGate.Dispose();
    }

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
}

/// <summary>What <see cref="IdentityRegistry.SeedAsync"/> did.</summary>
internal enum SeedResult
{
    /// <summary>The identity already matched the configuration.</summary>
    Unchanged,

    /// <summary>The identity was created.</summary>
    Created,

    /// <summary>The identity's role or secrets were updated.</summary>
    Updated,
}

/// <summary>An identity with the secrets just issued to it (create, rotate): shown to the caller once.</summary>
internal sealed record IssuedIdentity(Identity Identity, IssuedCredentials Credentials);
