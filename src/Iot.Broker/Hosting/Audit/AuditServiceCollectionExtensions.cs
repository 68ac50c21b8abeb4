using Iot.Broker.Cluster;
using Iot.Broker.Cluster.Audit;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Hosting.Audit;

/// <summary>
/// Registers the audit log and its retention: <c>audit.db</c> in the data directory on a single node; in cluster mode
/// the JetStream stream <see cref="JetStreamAuditLog.StreamName"/>, one log for the whole cluster.
/// </summary>
internal static class AuditServiceCollectionExtensions
{
    public static IServiceCollection AddIotAudit(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AuditOptions>().Bind(configuration.GetSection(AuditOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        if ((configuration.GetSection(ClusterOptions.SectionName).Get<ClusterOptions>() ?? new ClusterOptions()).Enabled)
        {
            // JetStream keeps the retention itself (max_age, max_msgs): no trimming service on every node.
            services.AddSingleton<IAuditLog>(sp =>
            {
                var cluster = sp.GetRequiredService<ClusterConnection>();
                return new JetStreamAuditLog(cluster.JetStream, sp.GetRequiredService<IOptions<AuditOptions>>().Value, cluster.Options.Replicas, cluster.Options.RequestTimeout);
            });
            return services;
        }

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
