using Iot.Routing.Rules;
using Iot.Routing.Subscriptions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Iot.Routing.Internal.JetStream;

/// <summary>
/// Keeps this node's <see cref="RouteTable"/> and <see cref="EventSubscriptionRegistry"/> equal to the definitions
/// bucket in cluster mode: at start every stored definition is applied before the host goes on (so the first publish
/// is routed as on every other node), then each change any node stores is applied within milliseconds of its write.
/// </summary>
/// <remarks>
/// Changes are applied in revision order, each under the table's own write lock; one this node already applied (its
/// own write, or a newer one of the same name) is skipped (<see cref="JetStreamRoutingStore.IsSuperseded"/>). When the
/// definitions are loaded it purges the deliveries of subscriptions that have none (a deletion interrupted before its
/// purge); when another node deletes a subscription, this node purges its deliveries once more after it stopped
/// routing to it, which removes what it recorded in the instant before it learned of the deletion. A failure before
/// the first load fails the start; later ones are logged and the bucket is followed again from its start.
/// </remarks>
internal sealed class RoutingDefinitionFollower(JetStreamRoutingStore store, RouteTable routes, EventSubscriptionRegistry subscriptions,
    TimeProvider timeProvider, ILogger<RoutingDefinitionFollower> logger) : BackgroundService
{
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the stored definitions are applied.</summary>
    public Task Loaded => _loaded.Task;

    /// <summary>Starts following, and returns when the stored definitions are in force.</summary>
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await base.StartAsync(cancellationToken).ConfigureAwait(false);
        await _loaded.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// How long the first load may keep failing on NATS errors (JetStream electing leaders after a server died) before
    /// the start fails; within it the load is tried again every second. As long as <see cref="RoutingBuckets.OpenTimeout"/>:
    /// with one of three NATS servers dead on a busy machine, nats-server 2.9 answered no consumer create for 50 s
    /// (it may also place a watch's ephemeral consumer on the dead server), and a node restarted then gave up at 45 s.
    /// </summary>
    private static readonly TimeSpan LoadWindow = RoutingBuckets.OpenTimeout;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = timeProvider.GetTimestamp();
        while (!stoppingToken.IsCancellationRequested)
        {
            bool following = false;
            try
            {
                await foreach (var change in store.WatchDefinitionsAsync(stoppingToken).ConfigureAwait(false))
                {
                    if (change.Table.Length > 0)
                    {
                        await ApplyAsync(change, purge: following).ConfigureAwait(false);
                    }

                    if (change.Loaded && !following)
                    {
                        following = true;
                        if (!_loaded.Task.IsCompleted)
                        {
                            await PurgeOrphansAsync(stoppingToken).ConfigureAwait(false);
                            JetStreamRoutingLog.DefinitionsLoaded(logger, store.DefinitionsBucket, routes.Count, subscriptions.Count);
                            _loaded.TrySetResult();
                        }
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                _loaded.TrySetCanceled(stoppingToken);
                return;
            }
            catch (Exception ex) when (!_loaded.Task.IsCompleted
                && (ex is not NATS.Client.Core.NatsException || timeProvider.GetElapsedTime(started) > LoadWindow))
            {
                _loaded.TrySetException(ex);
                return;
            }
#pragma warning disable CA1031 // The follower must outlive a NATS outage: log, wait, load again (what is unchanged is skipped).
            catch (Exception ex)
#pragma warning restore CA1031
            {
                JetStreamRoutingLog.FollowFailed(logger, store.DefinitionsBucket, ex);
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), timeProvider, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private async Task ApplyAsync(RoutingDefinitionChange change, bool purge)
    {
        bool IsSuperseded() => store.IsSuperseded(change);
        var error = change.Table == "routes"
            ? await routes.ApplyStoredAsync(change.Name, change.Definition, IsSuperseded).ConfigureAwait(false)
            : await subscriptions.ApplyStoredAsync(change.Name, change.Definition, IsSuperseded).ConfigureAwait(false);
        if (error is not null)
        {
            JetStreamRoutingLog.DefinitionRejected(logger, store.DefinitionsBucket, change.Table, change.Name, error);
        }

        // Not when the subscription was created again meanwhile (checked in the bucket): its new deliveries stay.
        if (purge && change.Table == "subscriptions" && change.Definition is null && !subscriptions.TryGet(change.Name, out _)
            && !await store.DefinitionExistsAsync("subscriptions", change.Name, CancellationToken.None).ConfigureAwait(false))
        {
            await store.PurgeDeliveriesAsync(change.Name, CancellationToken.None).ConfigureAwait(false);
        }
    }

    // Deliveries of a subscription with no definition: checked against the bucket itself, so a subscription another
    // node created a moment ago (whose deliveries this node may see before its definition) keeps them.
    private async Task PurgeOrphansAsync(CancellationToken cancellationToken)
    {
        foreach (var name in await store.SubscriptionsWithDeliveriesAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!subscriptions.TryGet(name, out _) && !await store.DefinitionExistsAsync("subscriptions", name, cancellationToken).ConfigureAwait(false))
            {
                await store.PurgeDeliveriesAsync(name, cancellationToken).ConfigureAwait(false);
                JetStreamRoutingLog.OrphansPurged(logger, name);
            }
        }
    }
}
