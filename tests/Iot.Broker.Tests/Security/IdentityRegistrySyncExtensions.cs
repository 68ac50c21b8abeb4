using System.Diagnostics.CodeAnalysis;
using Iot.Broker.Security;
using Iot.Broker.Security.Identities;

namespace Iot.Broker.Tests.Security;

/// <summary>
/// The registry's writes in the shape the unit tests were written in. On <see cref="SqliteIdentityStore"/> every write
/// completes synchronously (an uncontended gate, a synchronous store), so waiting here blocks nothing.
/// </summary>
internal static class IdentityRegistrySyncExtensions
{
    public static bool TryCreate(this IdentityRegistry registry, string id, IdentityRole role,
        [NotNullWhen(true)] out Identity? identity, [NotNullWhen(true)] out IssuedCredentials? credentials)
    {
        var issued = registry.TryCreateAsync(id, role).GetAwaiter().GetResult();
        identity = issued?.Identity;
        credentials = issued?.Credentials;
        return issued is not null;
    }

    public static bool TrySetEnabled(this IdentityRegistry registry, string id, bool enabled, [NotNullWhen(true)] out Identity? identity)
    {
        identity = registry.TrySetEnabledAsync(id, enabled).GetAwaiter().GetResult();
        return identity is not null;
    }

    public static bool TryDelete(this IdentityRegistry registry, string id) => registry.TryDeleteAsync(id).GetAwaiter().GetResult();

    public static bool TryRotateCredentials(this IdentityRegistry registry, string id,
        [NotNullWhen(true)] out Identity? identity, [NotNullWhen(true)] out IssuedCredentials? credentials)
    {
        var issued = registry.TryRotateCredentialsAsync(id).GetAwaiter().GetResult();
        identity = issued?.Identity;
        credentials = issued?.Credentials;
        return issued is not null;
    }

    public static SeedResult Seed(this IdentityRegistry registry, string id, IdentityRole role, string? password, string? apiKey) =>
        registry.SeedAsync(id, role, password, apiKey).GetAwaiter().GetResult();
}
