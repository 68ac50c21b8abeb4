using Iot.Broker.Cluster;
using Iot.Broker.Cluster.Backup;
using Iot.Broker.Mqtt.Persistence;
using Iot.Broker.Security.Identities;
using Iot.Streams.Log;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Hosting.Backup;

/// <summary>Registers the stores as <see cref="IDurableStore"/>s (the data directory's files; in cluster mode also JetStream) and the online backup.</summary>
internal static class BackupServiceCollectionExtensions
{
    /// <summary>The SQLite files of single-process mode, in the order a backup copies them.</summary>
    private static readonly string[] SingleProcessDatabases = [IdentityStoreFile, SqliteSessionStore.FileName, "routing.db", "queues.db"];

    private const string IdentityStoreFile = SqliteIdentityStore.FileName;

    public static IServiceCollection AddIotBackup(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<BackupOptions>().Bind(configuration.GetSection(BackupOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        var cluster = (configuration.GetSection(ClusterOptions.SectionName).Get<ClusterOptions>() ?? new ClusterOptions()).Enabled;

        // In cluster mode the state is in JetStream (the nats check covers it); mqtt.db keeps this node's retained index.
        foreach (var file in cluster ? [SqliteSessionStore.FileName] : SingleProcessDatabases)
        {
            services.AddSingleton<IDurableStore>(sp => new SqliteDurableFile(Path.GetFullPath(sp.GetRequiredService<IOptions<IotOptions>>().Value.DataDir), file));
        }

        if (!cluster)
        {
            services.AddSingleton<IDurableStore>(sp => new StreamFilesDurableStore(sp.GetRequiredService<FileStreamStore>()));
            services.AddSingleton<BackupService>();
        }
        else
        {
            // The cluster's state is JetStream's: a backup holds its streams' snapshots, nothing of this node's disk.
            services.AddSingleton<JetStreamSnapshots>();
            services.AddSingleton<IDurableStore>(sp => sp.GetRequiredService<JetStreamSnapshots>());
            services.AddSingleton(sp => ActivatorUtilities.CreateInstance<BackupService>(sp, new IDurableStore[] { sp.GetRequiredService<JetStreamSnapshots>() }.AsEnumerable()));
        }

        return services;
    }
}
