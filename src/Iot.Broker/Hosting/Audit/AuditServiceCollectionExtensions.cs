using Microsoft.Extensions.Options;

namespace Iot.Broker.Hosting.Audit;

/// <summary>Registers the audit log (<c>audit.db</c> in the data directory, on every node in cluster mode) and its retention.</summary>
internal static class AuditServiceCollectionExtensions
{
    public static IServiceCollection AddIotAudit(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AuditOptions>().Bind(configuration.GetSection(AuditOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<SqliteAuditLog>(sp => new SqliteAuditLog(Path.GetFullPath(sp.GetRequiredService<IOptions<IotOptions>>().Value.DataDir)));
        services.AddSingleton<IAuditLog>(sp => sp.GetRequiredService<SqliteAuditLog>());
        services.AddSingleton<Backup.IDurableStore>(sp =>
        {
            // Opened first, so that its file exists for the probe and the backup.
            sp.GetRequiredService<SqliteAuditLog>();
            return new Backup.SqliteDurableFile(Path.GetFullPath(sp.GetRequiredService<IOptions<IotOptions>>().Value.DataDir), SqliteAuditLog.FileName);
        });
        services.AddHostedService<AuditRetentionService>();
        return services;
    }
}
