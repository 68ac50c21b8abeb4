using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Security.AccessControl;

/// <summary>Registers topic access control.</summary>
public static class AccessControlServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="AccessControlOptions"/> from <c>Iot:Security:Acl</c> (validated at start-up) and registers the
    /// rule-based <c>IAccessControl</c> as a singleton.
    /// </summary>
    public static IServiceCollection AddIotAccessControl(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<AccessControlOptions>().Bind(configuration.GetSection(AccessControlOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AccessControlOptions>, AccessControlOptionsValidator>());
        services.TryAddSingleton<IAccessControl, RuleBasedAccessControl>();
        return services;
    }
}
