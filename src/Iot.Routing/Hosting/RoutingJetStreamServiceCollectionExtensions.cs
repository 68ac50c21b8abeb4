using Iot.Routing.Internal;
using Iot.Routing.Internal.JetStream;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Hosting;

/// <summary>Where the routing layer keeps its state in cluster mode: the cluster's JetStream.</summary>
/// <param name="JetStream">The node's JetStream context.</param>
/// <param name="KeyValue">The node's key-value context.</param>
/// <param name="Replicas">Replicas of every bucket the routing layer creates.</param>
public sealed record RoutingJetStreamSettings(INatsJSContext JetStream, INatsKVContext KeyValue, int Replicas);

/// <summary>Puts the routing layer's routes, event subscriptions and deliveries on JetStream (cluster mode, docs/cluster.md).</summary>
public static class RoutingJetStreamServiceCollectionExtensions
{
    /// <summary>
    /// Keeps routes, event subscriptions and their deliveries in key-value buckets shared by every node instead of
    /// <c>routing.db</c>, and makes every node follow the definitions any node stores. Call before
    /// <see cref="IotRoutingServiceCollectionExtensions.AddIotRouting"/>, which then adds no SQLite store; the limits of
    /// <c>Iot:Routing</c> apply as they do to one process.
    /// </summary>
    public static IServiceCollection AddIotRoutingOnJetStream(this IServiceCollection services, Func<IServiceProvider, RoutingJetStreamSettings> settings)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(settings);
        services.AddSingleton(sp =>
        {
            var jetStream = settings(sp);
            var options = sp.GetRequiredService<IOptions<RoutingOptions>>().Value;
            var time = sp.GetRequiredService<TimeProvider>();
            var logger = sp.GetRequiredService<ILoggerFactory>().CreateLogger<JetStreamRoutingStore>();
            var evictions = new DeadLetterEvictions(sp.GetRequiredService<RoutingMetrics>(), time, logger, options.MaxDeadLetteredEventsPerSubscription);
            return new JetStreamRoutingStore(jetStream.JetStream, jetStream.KeyValue, jetStream.Replicas, time,
                options.MaxPendingEventsPerSubscription, options.MaxPendingBytesPerSubscription, options.MaxDeadLetteredEventsPerSubscription,
                evictions.Report, logger: logger, deliveriesAvailable: sp.GetRequiredService<DeliverySignals>().Set);
        });
        services.AddSingleton<IRoutingDefinitionStore>(sp => sp.GetRequiredService<JetStreamRoutingStore>());
        services.AddSingleton<IEventDeliveryStore>(sp => sp.GetRequiredService<JetStreamRoutingStore>());

        // Before the routing layer's own start-up services: the definitions are in force before webhook delivery starts
        // and before the listeners accept a publish.
        services.AddHostedService<RoutingDefinitionFollower>();
        return services;
    }
}
