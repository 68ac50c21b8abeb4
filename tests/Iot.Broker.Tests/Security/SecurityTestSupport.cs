using Iot.Broker.Security.Identities;
using Microsoft.Extensions.Logging.Abstractions;

namespace Iot.Broker.Tests.Security;

/// <summary>A temporary data directory with an identity registry in it; reopen to test durability.</summary>
internal sealed class RegistryScope : IDisposable
{
    public const int Iterations = 1_000;

    public RegistryScope()
    {
        Directory = Path.Combine(Path.GetTempPath(), $"iot-identities-{Guid.NewGuid():N}");
        Registry = Open();
    }

    public string Directory { get; }

    public ManualClock Clock { get; } = new(new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero));

    public IdentityRegistry Registry { get; private set; }

    /// <summary>Closes the registry and opens the database again.</summary>
    public IdentityRegistry Reopen()
    {
        Registry.Dispose();
        Registry = Open();
        return Registry;
    }

    public void Dispose()
    {
        Registry.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }

    private IdentityRegistry Open()
    {
        var registry = new IdentityRegistry(new SqliteIdentityStore(Directory), Iterations, Clock, NullLogger<IdentityRegistry>.Instance);
        registry.LoadAsync().GetAwaiter().GetResult();
        return registry;
    }
}

/// <summary>A clock the test moves.</summary>
internal sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
