using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Iot.Broker.Security.Identities;

/// <summary>
/// <see cref="IIdentityAuthenticator"/> on the <see cref="IdentityRegistry"/>. Password checks run PBKDF2 with a
/// bounded number at a time (a flood of wrong passwords queues instead of starving the thread pool); an unknown
/// username is checked against a dummy hash so that it costs what a wrong password costs. Successful checks are
/// cached by (identity, SHA-256 of the presented password) until the identity changes, so that reconnect storms of
/// legitimate devices cost one hash each.
/// </summary>
internal sealed class IdentityAuthenticator : IIdentityAuthenticator, IDisposable
{
    private readonly IdentityRegistry _registry;
    private readonly PasswordHash _dummy;
    private readonly SemaphoreSlim _hashSlots;

    // Values are the Identity.Stamp the secret was verified against: a hit counts only while the identity is unchanged,
    // which also covers a verification that raced with a rotation and was cached just after the invalidation.
    private readonly ConcurrentDictionary<CacheKey, long> _verified = new();
    private long _hashComputations;

    /// <summary>Creates the authenticator and subscribes to the registry's changes to drop cached verifications.</summary>
    /// <param name="registry">The identities.</param>
    /// <param name="maxConcurrentHashes">PBKDF2 computations at a time; default: the processor count.</param>
    public IdentityAuthenticator(IdentityRegistry registry, int? maxConcurrentHashes = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        _registry = registry;
        _dummy = SecretHasher.HashPassword(RandomNumberGenerator.GetBytes(16), registry.PasswordIterations);
        var slots = maxConcurrentHashes ?? Environment.ProcessorCount;
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 1, nameof(maxConcurrentHashes));
        _hashSlots = new SemaphoreSlim(slots, slots);
        _registry.IdentityChanged += OnIdentityChanged;
    }

    /// <summary>Cached successful verifications (for tests and diagnostics).</summary>
    internal int CachedVerifications => _verified.Count;

    /// <summary>Password checks that ran PBKDF2, including against the dummy hash (for tests and diagnostics).</summary>
    internal long HashComputations => Interlocked.Read(ref _hashComputations);

    /// <inheritdoc />
    public async ValueTask<AuthenticationOutcome> AuthenticatePasswordAsync(string username, ReadOnlyMemory<byte> password, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(username);
        _registry.TryGet(username, out var identity);
        var key = new CacheKey(username, Convert.ToBase64String(SecretHasher.Digest(password.Span)));
        if (identity is { Enabled: true } && _verified.TryGetValue(key, out var stamp) && stamp == identity.Stamp)
        {
            return AuthenticationOutcome.Success(identity.Id, identity.Role);
        }

        // Unknown users and users without a password hash the dummy, so that their cost matches a wrong password.
        var stored = identity?.Password ?? _dummy;
        bool matches;
        await _hashSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Interlocked.Increment(ref _hashComputations);
            matches = SecretHasher.VerifyPassword(password.Span, stored);
        }
        finally
        {
            _hashSlots.Release();
        }

        if (identity?.Password is null || !matches)
        {
            return AuthenticationOutcome.Fail("unknown username or wrong password");
        }

        if (!identity.Enabled)
        {
            return AuthenticationOutcome.Fail("identity is disabled");
        }

        _verified[key] = identity.Stamp;
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
    /// <remarks>
    /// The semaphore is left to the GC: it holds no kernel handle (its AvailableWaitHandle is never used), and a
    /// CONNECT still in flight during shutdown must not meet an ObjectDisposedException.
    /// </remarks>
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

    private readonly record struct CacheKey(string IdentityId, string SecretDigest);
}
