using System.Text;
using Iot.Broker.Security;
using Iot.Broker.Security.Identities;

namespace Iot.Broker.Tests.Security;

public sealed class IdentityRegistryTests : IDisposable
{
    private readonly RegistryScope _scope = new();

    private IdentityRegistry Registry => _scope.Registry;

    [Fact]
    public void TryCreate_Device_PasswordOnlyAndEnabled()
    {
        Assert.True(Registry.TryCreate("dev-1", IdentityRole.Device, out var identity, out var credentials));

        Assert.True(identity.Enabled);
        Assert.Equal(_scope.Clock.GetUtcNow(), identity.CreatedAt);
        Assert.Null(credentials.ApiKey);
        Assert.Null(identity.ApiKeyHash);
        Assert.True(SecretHasher.VerifyPassword(Encoding.UTF8.GetBytes(credentials.Password), identity.Password!));
        Assert.Equal(RegistryScope.Iterations, identity.Password!.Iterations);
    }

    [Theory]
    [InlineData(IdentityRole.Service)]
    [InlineData(IdentityRole.Dashboard)]
    public void TryCreate_ServiceOrDashboard_AlsoGetsAnApiKey(IdentityRole role)
    {
        Assert.True(Registry.TryCreate("svc", role, out _, out var credentials));

        Assert.NotNull(credentials.ApiKey);
        Assert.True(Registry.TryFindByApiKey(credentials.ApiKey, out var found));
        Assert.Equal("svc", found.Id);
        Assert.False(Registry.TryFindByApiKey(credentials.ApiKey + "x", out _));
    }

    [Fact]
    public void TryCreate_Duplicate_False()
    {
        Assert.True(Registry.TryCreate("dev", IdentityRole.Device, out _, out _));

        Assert.False(Registry.TryCreate("dev", IdentityRole.Service, out var identity, out var credentials));
        Assert.Null(identity);
        Assert.Null(credentials);
        Assert.True(Registry.TryCreate("DEV", IdentityRole.Device, out _, out _));
    }

    [Fact]
    public void TryCreate_InvalidId_Throws() =>
        Assert.Throws<ArgumentException>(() => Registry.TryCreate("a/b", IdentityRole.Device, out _, out _));

    [Fact]
    public void List_Always_OrderedById()
    {
        foreach (var id in new[] { "c", "a", "b" })
        {
            Registry.TryCreate(id, IdentityRole.Device, out _, out _);
        }

        Assert.Equal(["a", "b", "c"], Registry.List().Select(i => i.Id));
    }

    [Fact]
    public void TrySetEnabled_Changes_UpdatedTimeAndRaisesEvent()
    {
        Assert.True(Registry.TryCreate("dev", IdentityRole.Device, out var created, out _));
        var changes = new List<IdentityChange>();
        Registry.IdentityChanged += changes.Add;
        _scope.Clock.Advance(TimeSpan.FromMinutes(5));

        Assert.True(Registry.TrySetEnabled("dev", false, out var disabled));
        Assert.True(Registry.TrySetEnabled("dev", false, out _));
        Assert.True(Registry.TrySetEnabled("dev", true, out var enabled));

        Assert.False(disabled.Enabled);
        Assert.True(enabled.Enabled);
        Assert.Equal(created.CreatedAt, enabled.CreatedAt);
        Assert.Equal(created.CreatedAt.AddMinutes(5), disabled.UpdatedAt);
        Assert.Equal([new IdentityChange("dev", IdentityChangeKind.Disabled), new IdentityChange("dev", IdentityChangeKind.Enabled)], changes);
        Assert.True(changes[0].RevokesConnections);
        Assert.False(changes[1].RevokesConnections);
        Assert.False(Registry.TrySetEnabled("nobody", false, out _));
    }

    [Fact]
    public void TryDelete_Existing_GoneWithItsApiKeyAndRaisesEvent()
    {
        Assert.True(Registry.TryCreate("svc", IdentityRole.Service, out _, out var credentials));
        var changes = new List<IdentityChange>();
        Registry.IdentityChanged += changes.Add;

        Assert.True(Registry.TryDelete("svc"));

        Assert.False(Registry.TryGet("svc", out _));
        Assert.False(Registry.TryFindByApiKey(credentials.ApiKey!, out _));
        Assert.Equal([new IdentityChange("svc", IdentityChangeKind.Deleted)], changes);
        Assert.False(Registry.TryDelete("svc"));
    }

    [Fact]
    public void TryRotateCredentials_Service_OldSecretsStopWorking()
    {
        Assert.True(Registry.TryCreate("svc", IdentityRole.Service, out _, out var old));
        var changes = new List<IdentityChange>();
        Registry.IdentityChanged += changes.Add;

        Assert.True(Registry.TryRotateCredentials("svc", out var identity, out var rotated));

        Assert.NotEqual(old.Password, rotated.Password);
        Assert.False(SecretHasher.VerifyPassword(Encoding.UTF8.GetBytes(old.Password), identity.Password!));
        Assert.True(SecretHasher.VerifyPassword(Encoding.UTF8.GetBytes(rotated.Password), identity.Password!));
        Assert.False(Registry.TryFindByApiKey(old.ApiKey!, out _));
        Assert.True(Registry.TryFindByApiKey(rotated.ApiKey!, out _));
        Assert.Equal([new IdentityChange("svc", IdentityChangeKind.CredentialsChanged)], changes);
        Assert.False(Registry.TryRotateCredentials("nobody", out _, out _));
    }

    [Fact]
    public void Reopen_AfterChanges_SameIdentitiesAndKeys()
    {
        Assert.True(Registry.TryCreate("svc", IdentityRole.Service, out var svc, out var credentials));
        Assert.True(Registry.TryCreate("dev", IdentityRole.Device, out _, out _));
        Assert.True(Registry.TrySetEnabled("dev", false, out _));
        Assert.True(Registry.TryCreate("gone", IdentityRole.Device, out _, out _));
        Assert.True(Registry.TryDelete("gone"));

        var reopened = _scope.Reopen();

        Assert.Equal(["dev", "svc"], reopened.List().Select(i => i.Id));
        Assert.True(reopened.TryFindByApiKey(credentials.ApiKey!, out var found));
        Assert.Equal(svc.CreatedAt, found.CreatedAt);
        Assert.True(SecretHasher.VerifyPassword(Encoding.UTF8.GetBytes(credentials.Password), found.Password!));
        Assert.True(reopened.TryGet("dev", out var dev));
        Assert.False(dev.Enabled);
    }

    [Fact]
    public void IdentityChanged_HandlerThrows_ChangeStillMadeAndOtherHandlersRun()
    {
        Assert.True(Registry.TryCreate("dev", IdentityRole.Device, out _, out _));
        var seen = 0;
        Registry.IdentityChanged += _ => throw new InvalidOperationException("subscriber bug");
        Registry.IdentityChanged += _ => seen++;

        Assert.True(Registry.TryDelete("dev"));

        Assert.Equal(1, seen);
        Assert.False(Registry.TryGet("dev", out _));
    }

    [Fact]
    public void Change_Always_NewStamp()
    {
        Assert.True(Registry.TryCreate("dev", IdentityRole.Device, out var created, out _));
        Assert.True(Registry.TrySetEnabled("dev", false, out var disabled));
        Assert.True(Registry.TryRotateCredentials("dev", out var rotated, out _));

        Assert.True(created.Stamp < disabled.Stamp);
        Assert.True(disabled.Stamp < rotated.Stamp);
    }

    public void Dispose() => _scope.Dispose();
}
