using Microsoft.Extensions.Options;

namespace Iot.Broker.Security.Identities;

/// <summary>
/// Opens the registry and applies <c>Iot:Security:Identities</c> at start-up, before the server accepts connections
/// (hosted services start before Kestrel).
/// </summary>
internal sealed class IdentitySeedingService(IdentityRegistry registry, IOptions<IdentityRegistryOptions> options, ILogger<IdentitySeedingService> logger)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var configured in options.Value.Identities)
        {
            var result = registry.Seed(configured.Id!, configured.Role, configured.Password, configured.ApiKey);
            IdentityLog.Seeded(logger, configured.Id!, configured.Role, result);
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
