using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Iot.Broker.Security.Identities;

/// <summary>
/// <see cref="IIdentityAuthenticator"/> on the <see cref="IdentityRegistry"/>. Password checks run PBKDF2 on a bounded
/// <see cref="PasswordHashPool"/> (so many at a time, so many waiting; beyond, the CONNECT is refused as Server busy
/// rather than queued without bound); an unknown username is checked against a dummy hash so that it costs what a
/// wrong password costs. Successful checks are cached by (identity, SHA-256 of the presented password) until the
/// identity changes, so that reconnects of legitimate devices need no hashing and never wait for the pool.
/// </summary>
internal sealed class IdentityAuthenticator : IIdentityAuthenticator, IDisposable
{
    private readonly IdentityRegistry _registry;
    private readonly PasswordHash _dummy;
    private readonly PasswordHashPool _pool;

    // Values are the Identity.Stamp the secret was verified against: a hit counts only while the identity is unchanged,
    // which also covers a verification that raced with a rotation and was cached just after the invalidation.
    private readonly ConcurrentDictionary<CacheKey, long> _verified = new();

    /// <summary>Creates the authenticator and subscribes to the registry's changes to drop cached verifications.</summary>
    /// <param name="registry">The identities.</param>
    /// <param name="pool">Where password hashes run; default: half the processor count at once (at least 1), 16 waiting.</param>
    public IdentityAuthenticator(IdentityRegistry registry, PasswordHashPool? pool = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        _registry = registry;
        _dummy = SecretHasher.HashPassword(RandomNumberGenerator.GetBytes(16), registry.PasswordIterations);
        _pool = pool ?? new PasswordHashPool(new LoginProtectionOptions().EffectiveHashConcurrency, new LoginProtectionOptions().PasswordHashQueue);
        _registry.IdentityChanged += OnIdentityChanged;
    }

    /// <summary>Cached successful verifications (for tests and diagnostics).</summary>
    internal int CachedVerifications => _verified.Count;

    /// <summary>Password checks that ran PBKDF2, including against the dummy hash (for tests and diagnostics).</summary>
    internal long HashComputations => _pool.Completed;

    /// <summary>The pool password checks run on (for <c>/metrics</c>).</summary>
    internal PasswordHashPool Pool => _pool;

    /// <inheritdoc />
    public bool TryAuthenticateCached(string username, ReadOnlySpan<byte> password, out AuthenticationOutcome outcome)
    {
        ArgumentNullException.ThrowIfNull(username);
        if (_registry.TryGet(username, out var identity) && identity.Enabled
            && _verified.TryGetValue(new CacheKey(username, DigestOf(password)), out var stamp) && stamp == identity.Stamp)
        {
            outcome = AuthenticationOutcome.Success(identity.Id, identity.Role);
            return true;
        }

        outcome = default;
        return false;
    }

    /// <inheritdoc />
    public bool IsRegistered(string identityId) => _registry.TryGet(identityId, out _);

    /// <inheritdoc />
    public async ValueTask<AuthenticationOutcome> AuthenticatePasswordAsync(string username, ReadOnlyMemory<byte> password, CancellationToken cancellationToken)
    {
        if (TryAuthenticateCached(username, password.Span, out var cached))
        {
            return cached;
        }

        _registry.TryGet(username, out var identity);
        // Unknown users and users without a password hash the dummy, so that their cost matches a wrong password.
        var stored = identity?.Password ?? _dummy;
        var verified = await _pool.TryRunAsync(
            static state => SecretHasher.VerifyPassword(state.Password.Span, state.Stored), (Password: password, Stored: stored), cancellationToken)
            .ConfigureAwait(false);
        if (verified is not { } matches)
        {
            return AuthenticationOutcome.Busy();
        }

        if (identity?.Password is null || !matches)
        {
            return AuthenticationOutcome.Fail("unknown username or wrong password");
        }

        if (!identity.Enabled)
        {
            return AuthenticationOutcome.Fail("identity is disabled");
        }

        _verified[new CacheKey(username, DigestOf(password.Span))] = identity.Stamp;
        return AuthenticationOutcome.Success(identity.Id, identity.Role);
    }

    /// <inheritdoc />
    public ValueTask<AuthenticationOutcome> AuthenticateCertificateAsync(X509Certificate2 certificate, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        if (!ClientCertificates.TryGetIdentityId(certificate, out var commonName, out var problem))
        {
            return ValueTask.FromResult(AuthenticationOutcome.Fail(problem));
        }

        if (!_registry.TryGet(commonName, out var identity))
        {
            return ValueTask.FromResult(AuthenticationOutcome.Fail("client certificate names an unknown identity"));
        }

        return ValueTask.FromResult(identity.Enabled
            ? AuthenticationOutcome.Success(identity.Id, identity.Role)
            : AuthenticationOutcome.Fail("identity is disabled"));
    }

    /// <summary>Unsubscribes from the registry.</summary>
    public void Dispose() => _registry.IdentityChanged -= OnIdentityChanged;

    private void OnIdentityChanged(IdentityChange change)
    {
        // Identity changes are rare administrative acts: a scan is cheaper than a second index.
        foreach (var key in _verified.Keys)
        {
            if (string.Equals(key.IdentityId, change.IdentityId, StringComparison.Ordinal))
            {
                _verified.TryRemove(key, out _);
            }
        }
    }

    private static string DigestOf(ReadOnlySpan<byte> password) => Convert.ToBase64String(SecretHasher.Digest(password));

    private readonly record struct CacheKey(string IdentityId, string SecretDigest);
}
