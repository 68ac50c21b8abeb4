using Iot.Broker.Api;
using Iot.Broker.Hosting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Security.Identities;

/// <summary>Registers the identity registry, MQTT authentication and the HTTP API's authentication and authorization.</summary>
public static class IotSecurityServiceCollectionExtensions
{
    /// <summary>
    /// Adds the identity registry (<c>{Iot:DataDir}/identities.db</c>, seeded from <c>Iot:Security:Identities</c> at
    /// start-up), <see cref="IIdentityAuthenticator"/> for MQTT CONNECT, the <see cref="IotApiPolicy.AuthenticationScheme"/>
    /// authentication scheme and the <see cref="IotApiPolicy.Name"/> authorization policy. Call after <c>AddIotBroker</c>.
    /// </summary>
    public static IServiceCollection AddIotSecurity(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<IdentityRegistryOptions>().Bind(configuration.GetSection(IdentityRegistryOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<IdentityRegistryOptions>, IdentityRegistryOptionsValidator>();

        // Cluster mode registers its shared store first (AddIotCluster runs before this); alone, identities.db.
        services.TryAddSingleton<IIdentityStore>(sp =>
            new SqliteIdentityStore(Path.GetFullPath(sp.GetRequiredService<IOptions<IotOptions>>().Value.DataDir)));
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<IdentityRegistryOptions>>().Value;
            return new IdentityRegistry(sp.GetRequiredService<IIdentityStore>(), options.PasswordIterations,
                sp.GetService<TimeProvider>() ?? TimeProvider.System, sp.GetRequiredService<ILogger<IdentityRegistry>>());
        });
        services.AddOptions<LoginProtectionOptions>().Bind(configuration.GetSection(LoginProtectionOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<LoginBackoff>();
        services.AddSingleton(sp =>
        {
            var protection = sp.GetRequiredService<IOptions<LoginProtectionOptions>>().Value;
            return new IdentityAuthenticator(sp.GetRequiredService<IdentityRegistry>(),
                new PasswordHashPool(protection.EffectiveHashConcurrency, protection.PasswordHashQueue));
        });
        services.AddSingleton<IIdentityAuthenticator>(sp => sp.GetRequiredService<IdentityAuthenticator>());
        services.AddHostedService<IdentitySeedingService>();

        services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(IotApiPolicy.AuthenticationScheme, configureOptions: null);
        services.AddAuthorizationBuilder()
            .AddPolicy(IotApiPolicy.Name, policy => policy
                .AddAuthenticationSchemes(IotApiPolicy.AuthenticationScheme)
                .AddRequirements(new IotApiRequirement()));
        services.AddSingleton<IAuthorizationHandler, IotApiAuthorizationHandler>();
        return services;
    }
}
