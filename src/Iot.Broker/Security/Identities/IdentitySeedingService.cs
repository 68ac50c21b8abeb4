using Microsoft.Extensions.Options;

namespace Iot.Broker.Security.Identities;

/// <summary>
/// Opens the registry (loads its store) and applies <c>Iot:Security:Identities</c> at start-up, before the server
/// accepts connections (hosted services start before Kestrel). Seeding is idempotent, so several cluster nodes may
/// start with the same configuration at once.
/// </summary>
internal sealed class IdentitySeedingService(IdentityRegistry registry, IOptions<IdentityRegistryOptions> options, ILogger<IdentitySeedingService> logger)
    : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await registry.LoadAsync(cancellationToken).ConfigureAwait(false);
        foreach (var configured in options.Value.Identities)
        {
            var result = await registry.SeedAsync(configured.Id!, configured.Role, configured.Password, configured.ApiKey, cancellationToken)
                .ConfigureAwait(false);
            IdentityLog.Seeded(logger, configured.Id!, configured.Role, result);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
