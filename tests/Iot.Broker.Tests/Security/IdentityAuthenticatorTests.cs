using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Iot.Broker.Security;
using Iot.Broker.Security.Identities;

namespace Iot.Broker.Tests.Security;

public sealed class IdentityAuthenticatorTests : IDisposable
{
    private readonly RegistryScope _scope = new();
    private readonly IdentityAuthenticator _authenticator;

    public IdentityAuthenticatorTests() => _authenticator = new IdentityAuthenticator(_scope.Registry);

    [Fact]
    public async Task AuthenticatePassword_Correct_SucceedsWithRole()
    {
        var password = Create("dash", IdentityRole.Dashboard);

        var outcome = await AuthenticateAsync("dash", password);

        Assert.True(outcome.Succeeded);
        Assert.Equal("dash", outcome.IdentityId);
        Assert.Equal(IdentityRole.Dashboard, outcome.Role);
    }

    [Fact]
    public async Task AuthenticatePassword_Wrong_Fails()
    {
        Create("dev", IdentityRole.Device);

        var outcome = await AuthenticateAsync("dev", "wrong");

        Assert.False(outcome.Succeeded);
        Assert.Null(outcome.IdentityId);
        Assert.Equal(0, _authenticator.CachedVerifications);
    }

    [Fact]
    public async Task AuthenticatePassword_UnknownUser_HashesLikeAWrongPassword()
    {
        Create("dev", IdentityRole.Device);

        var before = _authenticator.HashComputations;
        var wrong = await AuthenticateAsync("dev", "wrong");
        var afterWrong = _authenticator.HashComputations;
        var unknown = await AuthenticateAsync("nobody", "wrong");

        Assert.Equal(1, afterWrong - before);
        Assert.Equal(1, _authenticator.HashComputations - afterWrong);
        Assert.Equal(wrong.Failure, unknown.Failure);
    }

    [Fact]
    public async Task AuthenticatePassword_IdentityWithoutPassword_HashesAndFails()
    {
        _scope.Registry.Seed("cert-only", IdentityRole.Device, password: null, apiKey: null);

        var outcome = await AuthenticateAsync("cert-only", "");

        Assert.False(outcome.Succeeded);
        Assert.Equal(1, _authenticator.HashComputations);
    }

    [Fact]
    public async Task AuthenticatePassword_Disabled_Fails()
    {
        var password = Create("dev", IdentityRole.Device);
        Assert.True(_scope.Registry.TrySetEnabled("dev", false, out _));

        var outcome = await AuthenticateAsync("dev", password);

        Assert.False(outcome.Succeeded);
        Assert.Equal("identity is disabled", outcome.Failure);
    }

    [Fact]
    public async Task AuthenticatePassword_Repeated_HashesOnce()
    {
        var password = Create("dev", IdentityRole.Device);

        for (var i = 0; i < 5; i++)
        {
            Assert.True((await AuthenticateAsync("dev", password)).Succeeded);
        }

        Assert.Equal(1, _authenticator.HashComputations);
        Assert.Equal(1, _authenticator.CachedVerifications);
    }

    [Fact]
    public async Task AuthenticatePassword_AfterRotate_OldPasswordFailsAndCacheDropped()
    {
        var old = Create("dev", IdentityRole.Device);
        Assert.True((await AuthenticateAsync("dev", old)).Succeeded);

        Assert.True(_scope.Registry.TryRotateCredentials("dev", out _, out var rotated));

        Assert.Equal(0, _authenticator.CachedVerifications);
        Assert.False((await AuthenticateAsync("dev", old)).Succeeded);
        Assert.True((await AuthenticateAsync("dev", rotated.Password)).Succeeded);
    }

    [Fact]
    public async Task AuthenticatePassword_AfterDisableOrDelete_CachedSuccessNotUsed()
    {
        var password = Create("dev", IdentityRole.Device);
        Assert.True((await AuthenticateAsync("dev", password)).Succeeded);

        Assert.True(_scope.Registry.TrySetEnabled("dev", false, out _));
        Assert.Equal(0, _authenticator.CachedVerifications);
        Assert.False((await AuthenticateAsync("dev", password)).Succeeded);

        Assert.True(_scope.Registry.TrySetEnabled("dev", true, out _));
        Assert.True((await AuthenticateAsync("dev", password)).Succeeded);
        Assert.True(_scope.Registry.TryDelete("dev"));
        Assert.False((await AuthenticateAsync("dev", password)).Succeeded);
    }

    [Fact]
    public async Task AuthenticatePassword_CacheEntryFromBeforeAChange_Ignored()
    {
        // A verification that raced with a change may be cached after the invalidation ran; its stamp is stale.
        // Simulated by detaching an authenticator from the registry's events, so that its entry outlives the change.
        var password = Encoding.UTF8.GetBytes(Create("dev", IdentityRole.Device));
        var detached = new IdentityAuthenticator(_scope.Registry);
        Assert.True((await detached.AuthenticatePasswordAsync("dev", password, default)).Succeeded);
        detached.Dispose();

        Assert.True(_scope.Registry.TrySetEnabled("dev", false, out _));
        Assert.True(_scope.Registry.TrySetEnabled("dev", true, out _));

        Assert.Equal(1, detached.CachedVerifications);
        Assert.True((await detached.AuthenticatePasswordAsync("dev", password, default)).Succeeded);
        Assert.Equal(2, detached.HashComputations);
    }

    [Fact]
    public async Task AuthenticateCertificate_CnOfEnabledIdentity_Succeeds()
    {
        Create("dev-7", IdentityRole.Device);
        using var certificate = Certificate("dev-7");

        var outcome = await _authenticator.AuthenticateCertificateAsync(certificate, default);

        Assert.True(outcome.Succeeded);
        Assert.Equal("dev-7", outcome.IdentityId);
        Assert.Equal(IdentityRole.Device, outcome.Role);
    }

    [Fact]
    public async Task AuthenticateCertificate_UnknownOrDisabled_Fails()
    {
        Create("dev-8", IdentityRole.Device);
        Assert.True(_scope.Registry.TrySetEnabled("dev-8", false, out _));
        using var disabled = Certificate("dev-8");
        using var unknown = Certificate("dev-9");

        Assert.False((await _authenticator.AuthenticateCertificateAsync(disabled, default)).Succeeded);
        Assert.False((await _authenticator.AuthenticateCertificateAsync(unknown, default)).Succeeded);
    }

    public void Dispose()
    {
        _authenticator.Dispose();
        _scope.Dispose();
    }

    private string Create(string id, IdentityRole role)
    {
        Assert.True(_scope.Registry.TryCreate(id, role, out _, out var credentials));
        return credentials.Password;
    }

    private ValueTask<AuthenticationOutcome> AuthenticateAsync(string username, string password) =>
        _authenticator.AuthenticatePasswordAsync(username, Encoding.UTF8.GetBytes(password), CancellationToken.None);

    private static X509Certificate2 Certificate(string commonName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}, O=Iot tests", key, HashAlgorithmName.SHA256);
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));
    }
}
