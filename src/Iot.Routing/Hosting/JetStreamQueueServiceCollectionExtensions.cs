using Iot.Messaging.Leases;
using Iot.Routing.Queues;
using Iot.Routing.Queues.JetStream;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Hosting;

/// <summary>Registers the queues of cluster mode: <see cref="IQueueStore"/> on NATS JetStream key-value buckets shared by every node.</summary>
public static class JetStreamQueueServiceCollectionExtensions
{
    /// <summary>
    /// Makes the queue store the shared JetStream one (docs/cluster.md, "Queues (part 2)"): call before
    /// <see cref="IotRoutingServiceCollectionExtensions.AddIotRouting"/>, which then keeps it. Start-up waits until every
    /// queue's index is current. One node at a time (a singleton lease) sweeps what completed messages leave in the
    /// buckets once their duplicate detection window has passed. Device commands join it through
    /// <see cref="JetStreamCommandServiceCollectionExtensions.AddJetStreamCommands"/>.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="keyValue">This node's key-value context (its NATS connection).</param>
    /// <param name="replicas">Replicas of every bucket.</param>
    public static IServiceCollection AddJetStreamQueues(this IServiceCollection services, Func<IServiceProvider, INatsKVContext> keyValue,
        Func<IServiceProvider, int> replicas)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(keyValue);
        ArgumentNullException.ThrowIfNull(replicas);
        services.AddSingleton(sp => new JetStreamQueueStore(keyValue(sp), replicas(sp), sp.GetService<TimeProvider>() ?? TimeProvider.System,
            sp.GetRequiredService<ILogger<JetStreamQueueStore>>()));
        services.AddSingleton<IQueueStore>(sp => sp.GetRequiredService<JetStreamQueueStore>());
        services.AddHostedService(sp => new JetStreamQueueStartup(sp.GetRequiredService<JetStreamQueueStore>()));
        services.AddHostedService(sp => new JetStreamQueueSweeper(sp.GetRequiredService<JetStreamQueueStore>(),
            sp.GetService<ISingletonLeases>() ?? LocalSingletonLeases.Instance, sp.GetService<TimeProvider>() ?? TimeProvider.System,
            sp.GetRequiredService<ILogger<JetStreamQueueStore>>()));
        return services;
    }

    /// <summary>Opens the definitions and every queue's index before the listeners start.</summary>
    private sealed class JetStreamQueueStartup(JetStreamQueueStore store) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => store.StartAsync().WaitAsync(cancellationToken);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
