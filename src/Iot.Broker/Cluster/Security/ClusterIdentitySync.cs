using Iot.Broker.Security.Identities;

namespace Iot.Broker.Cluster.Security;

/// <summary>
/// Follows the identity bucket on this node: every change another node writes (create, disable, enable, delete,
/// new credentials, new role) is applied to this node's <see cref="IdentityRegistry"/>, which raises the same
/// <see cref="IdentityRegistry.IdentityChanged"/> events as a local change, so a revoked identity's connections
/// here are closed within milliseconds of the write. Loads the registry first (the seeding service waits for the same load).
/// </summary>
internal sealed class ClusterIdentitySync(
    IdentityRegistry registry, KeyValueIdentityStore store, TimeProvider timeProvider, ILogger<ClusterIdentitySync> logger) : BackgroundService
{
    /// <summary>How long to wait before following the bucket again after the watch failed.</summary>
    internal static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await registry.LoadAsync(stoppingToken).ConfigureAwait(false);
        var after = registry.LoadedRevision;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                ClusterSecurityLog.Following(logger, store.Location, after);
                await foreach (var change in store.WatchAsync(after, stoppingToken).ConfigureAwait(false))
                {
                    if (change.Error is { } error)
                    {
                        // Fail closed: an identity whose newest value cannot be read does not keep what an older one granted.
                        ClusterSecurityLog.UnreadableIdentity(logger, store.Location, change.Id, change.Revision, error);
                    }

                    await registry.ApplyStoredAsync(change.Id, change.Identity, change.Revision, stoppingToken).ConfigureAwait(false);
                    after = change.Revision;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
#pragma warning disable CA1031 // The follower must outlive a NATS outage: log, wait, resume from the last applied revision.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                ClusterSecurityLog.FollowFailed(logger, ex, store.Location, after);
                try
                {
                    await Task.Delay(RetryDelay, timeProvider, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
