using Iot.Broker.Cluster;
using Iot.Broker.Cluster.Backup;
using NATS.Client.Core;

namespace Iot.Broker.Hosting.Backup;

/// <summary>
/// Restoring a backup at start (<c>Iot:Restore:From</c>: a backup directory or its <c>.tar.gz</c> archive), before any
/// store opens: the data directory must be empty or absent; every file is checked against the manifest (length and
/// SHA-256) before anything is copied; the streams go to <c>Iot:Streams:DataDir</c> (default
/// <c>{Iot:DataDir}/streams</c>), the rest to <c>Iot:DataDir</c>, and <c>restored.json</c> records which backup it
/// was, so that a restart with the setting still in place starts on the restored data instead of failing.
/// A backup taken in cluster mode goes back into JetStream instead (<see cref="JetStreamRestore"/>), and only there.
/// </summary>
internal static class BackupRestore
{
    /// <summary>The setting that names the backup to restore.</summary>
    public const string Setting = "Iot:Restore:From";

    /// <summary>The file, in the data directory, that records the restored backup.</summary>
    public const string MarkerFile = BackupFiles.MarkerFile;

    /// <summary>Restores when <see cref="Setting"/> is set; returns the restored backup's id, or null when nothing was done.</summary>
    /// <exception cref="InvalidOperationException">The backup is unusable or the data directory is not empty; the message names the setting.</exception>
    public static string? RestoreIfConfigured(IConfiguration configuration)
    {
        if (configuration[Setting] is not { Length: > 0 } from)
        {
            return null;
        }

        var dataDir = Path.GetFullPath(configuration[$"{IotOptions.SectionName}:DataDir"] is { Length: > 0 } configured ? configured : new IotOptions().DataDir);
        var streamsDir = Path.GetFullPath(configuration["Iot:Streams:DataDir"] is { Length: > 0 } streams ? streams : Path.Combine(dataDir, StreamFilesDurableStore.BackupDirectory));
        var staging = BackupFiles.IsArchive(from) ? BackupFiles.Extract(from, dataDir, Setting) : null;
        try
        {
            var source = staging ?? Path.GetFullPath(from);
            var manifest = BackupFiles.Verify(source, Setting);
            var cluster = configuration.GetSection(ClusterOptions.SectionName).Get<ClusterOptions>() ?? new ClusterOptions();
            if (cluster.Enabled != BackupFiles.IsCluster(manifest))
            {
                throw new InvalidOperationException(cluster.Enabled
                    ? $"cannot restore backup {manifest.Id} ({Setting}) in cluster mode: it was taken by a single broker; restore it into a single broker."
                    : $"cannot restore backup {manifest.Id} ({Setting}) into a single broker: it was taken in cluster mode; start a node with Iot:Cluster:Nats:Url.");
            }

            if (cluster.Enabled)
            {
                return RestoreCluster(cluster, Path.Combine(source, BackupFiles.JetStreamDirectory), manifest.Id) ? manifest.Id : null;
            }

            if (BackupFiles.RestoredId(dataDir) == manifest.Id)
            {
                return null;
            }

            BackupFiles.CopyInto(source, manifest, dataDir, streamsDir, from, $"{Setting}, Iot:DataDir");
            return manifest.Id;
        }
        finally
        {
            if (staging is not null)
            {
                BackupFiles.DeleteStaging(staging);
            }
        }
    }

    /// <summary>Restores a cluster backup into JetStream (<see cref="JetStreamRestore"/>) before the node starts.</summary>
    private static bool RestoreCluster(ClusterOptions cluster, string directory, string backupId)
    {
        try
        {
            return Task.Run(async () =>
            {
                await using var nats = new NatsConnection(ClusterConnection.CreateOpts(cluster, "restore"));
                using var timeout = new CancellationTokenSource(cluster.RequestTimeout * 60);
                await nats.ConnectAsync().ConfigureAwait(false);
                return await JetStreamRestore.RestoreAsync(nats, directory, backupId, cluster.Replicas, cluster.RequestTimeout, timeout.Token).ConfigureAwait(false);
            }).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is InvalidOperationException or NatsException or TimeoutException or OperationCanceledException)
        {
            throw new InvalidOperationException($"restoring backup {backupId} into JetStream failed ({Setting}): {ex.Message}", ex);
        }
    }
}
