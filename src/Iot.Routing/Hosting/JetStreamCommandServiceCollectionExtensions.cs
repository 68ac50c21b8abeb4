using Iot.Routing.Commands;
using Iot.Routing.Internal;
using Iot.Routing.Queues.JetStream;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using NATS.Client.KeyValueStore;

namespace Iot.Routing.Hosting;

/// <summary>Registers the device commands of cluster mode: records in a NATS key-value bucket, messages in the shared JetStream queue store.</summary>
public static class JetStreamCommandServiceCollectionExtensions
{
    /// <summary>
    /// Makes device commands cluster-wide (docs/cluster.md, "Device commands (part 2)"): the command store becomes
    /// <see cref="JetStreamCommandStore"/> (bucket <c>iot-commands</c>) and the command service reads the JetStream queue
    /// store's <c>$commands</c> queue. Call after <see cref="JetStreamQueueServiceCollectionExtensions.AddJetStreamQueues"/>
    /// and before <see cref="IotRoutingServiceCollectionExtensions.AddIotRouting"/>, which then keeps these.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="keyValue">This node's key-value context (its NATS connection).</param>
    /// <param name="replicas">Replicas of the bucket.</param>
    public static IServiceCollection AddJetStreamCommands(this IServiceCollection services, Func<IServiceProvider, INatsKVContext> keyValue,
        Func<IServiceProvider, int> replicas)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(keyValue);
        ArgumentNullException.ThrowIfNull(replicas);
        services.AddSingleton(sp => new JetStreamCommandStore(keyValue(sp), sp.GetRequiredService<JetStreamQueueStore>(), replicas(sp),
            sp.GetService<TimeProvider>() ?? TimeProvider.System, sp.GetRequiredService<ILogger<JetStreamCommandStore>>()));
        services.AddSingleton<ICommandStore>(sp => sp.GetRequiredService<JetStreamCommandStore>());
        services.AddSingleton(sp => new CommandService(sp.GetRequiredService<JetStreamQueueStore>(), sp.GetRequiredService<ICommandStore>(),
            sp.GetRequiredService<IOptions<CommandOptions>>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<RoutingMetrics>(),
            sp.GetRequiredService<ILogger<CommandService>>(), () => sp.GetService<IDeviceCommandChannel>(), sp.GetRequiredService<CrashPoints>(),
            sp.GetService<Iot.Messaging.Crossover.ICrossoverEvents>()));
        return services;
    }
}
