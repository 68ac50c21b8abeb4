using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Cluster.Sessions;

/// <summary>Registers persistent sessions on JetStream (cluster mode only; docs/adr/0009-cluster-sessions.md).</summary>
internal static class ClusterSessionsServiceCollectionExtensions
{
    public static IServiceCollection AddClusterSessions(this IServiceCollection services)
    {
        services.AddSingleton(sp => new SessionStreams(
            sp.GetRequiredService<ClusterConnection>(), sp.GetRequiredService<IOptions<MqttOptions>>().Value.MaxQueuedMessages));
        services.AddSingleton<SessionDirectory>();
        services.AddSingleton<IClusterSessions>(sp => sp.GetRequiredService<SessionDirectory>());
        services.AddSingleton<SharedGroupMembers>();
        services.AddSingleton<PersistentSubscriptions>();
        services.AddSingleton<IClusterFanOut, ClusterFanOut>();
        services.AddSingleton<Func<ISessionStore, ISessionStore>>(sp => inner => new ClusterSessionStore(inner, sp.GetRequiredService<SessionDirectory>()));
        services.AddHostedService<ClusterSessionsStartup>();
        services.AddSingleton<DeadNodeSessions>();
        services.AddHostedService(sp => sp.GetRequiredService<DeadNodeSessions>());
        return services;
    }
}

/// <summary>Creates the session bucket and stream, then starts the takeover responder and the subscription watch.</summary>
internal sealed class ClusterSessionsStartup(SessionStreams streams, SessionDirectory directory, PersistentSubscriptions subscriptions) : IHostedService
{
    /// <summary>
    /// How long start-up waits for the watch to deliver the existing records before the listeners open: long enough
    /// for JetStream to elect new leaders after a NATS server died (the watch is retried every second meanwhile).
    /// </summary>
    private static readonly TimeSpan CatchUpTimeout = TimeSpan.FromSeconds(45);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var hasRecords = await streams.EnsureAsync(cancellationToken).ConfigureAwait(false);
        directory.Start();
        subscriptions.Start();
        if (hasRecords)
        {
            // Publishes accepted before the index knows the persistent sessions would miss their queues.
            try
            {
                await subscriptions.CaughtUp.WaitAsync(CatchUpTimeout, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException ex)
            {
                throw new InvalidOperationException(
                    $"cluster mode: the persistent sessions' records could not be read from NATS JetStream (Iot:Cluster:Nats:Url) within {CatchUpTimeout.TotalSeconds:0} s", ex);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
