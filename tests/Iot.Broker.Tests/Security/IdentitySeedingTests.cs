using System.Text;
using Iot.Broker.Security;
using Iot.Broker.Security.Identities;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Tests.Security;

public sealed class IdentitySeedingTests : IDisposable
{
    private const string Key = "svc-key-0123456789abcdef";
    private readonly RegistryScope _scope = new();

    private IdentityRegistry Registry => _scope.Registry;

    [Fact]
    public void Seed_Missing_CreatesWithConfiguredSecrets()
    {
        Assert.Equal(SeedResult.Created, Registry.Seed("svc", IdentityRole.Service, "pw", Key));

        Assert.True(Registry.TryFindByApiKey(Key, out var identity));
        Assert.Equal("svc", identity.Id);
        Assert.Equal(IdentityRole.Service, identity.Role);
        Assert.True(SecretHasher.VerifyPassword("pw"u8, identity.Password!));
    }

    [Fact]
    public void Seed_Same_Unchanged()
    {
        Registry.Seed("svc", IdentityRole.Service, "pw", Key);
        var changes = new List<IdentityChange>();
        Registry.IdentityChanged += changes.Add;

        Assert.Equal(SeedResult.Unchanged, Registry.Seed("svc", IdentityRole.Service, "pw", Key));
        Assert.Equal(SeedResult.Unchanged, Registry.Seed("svc", IdentityRole.Service, null, null));
        Assert.Empty(changes);
    }

    [Fact]
    public void Seed_DifferentSecretOrRole_UpdatesAndRaises()
    {
        Registry.Seed("svc", IdentityRole.Service, "pw", Key);
        var changes = new List<IdentityChange>();
        Registry.IdentityChanged += changes.Add;

        Assert.Equal(SeedResult.Updated, Registry.Seed("svc", IdentityRole.Dashboard, "pw2", Key + "-new"));

        Assert.True(Registry.TryGet("svc", out var identity));
        Assert.Equal(IdentityRole.Dashboard, identity.Role);
        Assert.True(SecretHasher.VerifyPassword("pw2"u8, identity.Password!));
        Assert.False(Registry.TryFindByApiKey(Key, out _));
        Assert.True(Registry.TryFindByApiKey(Key + "-new", out _));
        Assert.Equal([IdentityChangeKind.RoleChanged, IdentityChangeKind.CredentialsChanged], changes.Select(c => c.Kind));
    }

    [Fact]
    public void Seed_DisabledIdentity_StaysDisabled()
    {
        Registry.Seed("dev", IdentityRole.Device, "pw", null);
        Assert.True(Registry.TrySetEnabled("dev", false, out _));

        Registry.Seed("dev", IdentityRole.Device, "pw-new", null);

        Assert.True(Registry.TryGet("dev", out var identity));
        Assert.False(identity.Enabled);
    }

    [Fact]
    public void Seed_ApiKeyOfAnotherIdentity_ThrowsNamingBoth()
    {
        Registry.Seed("a", IdentityRole.Service, null, Key);

        var ex = Assert.Throws<InvalidOperationException>(() => Registry.Seed("b", IdentityRole.Service, null, Key));

        Assert.Contains("'a'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("'b'", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SeedingService_FromConfiguration_AppliesEveryIdentityAndSurvivesReopen()
    {
        var options = Bind(new Dictionary<string, string?>
        {
            ["Iot:Security:Identities:0:Id"] = "svc",
            ["Iot:Security:Identities:0:Role"] = "service",
            ["Iot:Security:Identities:0:ApiKey"] = Key,
            ["Iot:Security:Identities:1:Id"] = "dev-1",
            ["Iot:Security:Identities:1:Password"] = "device-pw",
        });
        var service = new IdentitySeedingService(Registry, Options.Create(options), NullLogger<IdentitySeedingService>.Instance);

        await service.StartAsync(CancellationToken.None);

        var reopened = _scope.Reopen();
        Assert.True(reopened.TryFindByApiKey(Key, out var svc));
        Assert.Equal(IdentityRole.Service, svc.Role);
        Assert.True(reopened.TryGet("dev-1", out var device));
        Assert.Equal(IdentityRole.Device, device.Role);
        Assert.True(SecretHasher.VerifyPassword(Encoding.UTF8.GetBytes("device-pw"), device.Password!));
    }

    [Fact]
    public void Options_Defaults_100000IterationsNoIdentities()
    {
        var options = Bind([]);

        Assert.Equal(100_000, options.PasswordIterations);
        Assert.Empty(options.Identities);
        Assert.True(new IdentityRegistryOptionsValidator().Validate(null, options).Succeeded);
    }

    [Fact]
    public void Validator_BadSettings_EachFailureNamesItsSetting()
    {
        var options = Bind(new Dictionary<string, string?>
        {
            ["Iot:Security:PasswordIterations"] = "10",
            ["Iot:Security:Identities:0:Id"] = "a/b",
            ["Iot:Security:Identities:1:Id"] = "dup",
            ["Iot:Security:Identities:1:ApiKey"] = "short",
            ["Iot:Security:Identities:2:Id"] = "dup",
            ["Iot:Security:Identities:2:Password"] = "",
        });

        var result = new IdentityRegistryOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        var failures = result.Failures!.ToList();
        Assert.Contains(failures, f => f.StartsWith("Iot:Security:PasswordIterations", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Iot:Security:Identities:0:Id", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Iot:Security:Identities:1:ApiKey", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Iot:Security:Identities:2:Id", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Iot:Security:Identities:2:Password", StringComparison.Ordinal));
        Assert.DoesNotContain(failures, f => f.Contains("short", StringComparison.Ordinal) && !f.Contains("shorter", StringComparison.Ordinal));
    }

    public void Dispose() => _scope.Dispose();

    private static IdentityRegistryOptions Bind(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var options = new IdentityRegistryOptions();
        configuration.GetSection(IdentityRegistryOptions.SectionName).Bind(options);
        return options;
    }
}
