using Iot.Messaging;
using Iot.Messaging.Crossover;
using Iot.Routing.Crossover;
using Iot.Routing.Commands;
using Iot.Routing.Internal;
using Iot.Routing.Queues;
using Iot.Routing.Rules;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Iot.Routing.Hosting;

/// <summary>Registers durable queues (<c>{Iot:Routing:DataDir}/queues.db</c>), the queue route destination and device commands.</summary>
internal static class QueueServiceCollectionExtensions
{
    public static IServiceCollection AddIotQueuesAndCommands(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<CommandOptions>().Bind(configuration.GetSection(CommandOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CommandOptions>, CommandOptionsValidator>());
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<RoutingOptions>>().Value;
            var store = new SqliteQueueStore(Path.Combine(options.DataDir!, "queues.db"), sp.GetRequiredService<TimeProvider>(), options.MaxPendingStoreOperations,
                sp.GetRequiredService<RoutingMetrics>().StoreCommitDuration);
            var logger = sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<SqliteQueueStore>>();
            foreach (var (name, reason) in store.SkippedDefinitions)
            {
                RoutingLog.DefinitionSkipped(logger, store.Path, "queues", name, reason);
            }

            return store;
        });
        services.TryAddSingleton<IQueueStore>(sp => sp.GetRequiredService<SqliteQueueStore>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IRouteDestination, QueueRouteDestination>());
        // Test-only (see CrashPoints): read once, and only when set.
        services.TryAddSingleton(CrashPoints.Parse(configuration[CrashPoints.ConfigurationKey]));
        services.TryAddSingleton<ICommandStore>(sp => new SqliteCommandStore(sp.GetRequiredService<SqliteQueueStore>(), sp.GetRequiredService<CrashPoints>()));
        // Commands read their queue where the command store writes it with the record, in one transaction: queues.db.
        // In cluster mode AddJetStreamCommands registered both on JetStream first (docs/cluster.md, "Device commands (part 2)").
        services.TryAddSingleton(sp => new CommandService(sp.GetRequiredService<SqliteQueueStore>(), sp.GetRequiredService<ICommandStore>(),
            sp.GetRequiredService<IOptions<CommandOptions>>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<RoutingMetrics>(),
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<CommandService>>(), () => sp.GetService<IDeviceCommandChannel>(),
            sp.GetRequiredService<CrashPoints>(), sp.GetService<Iot.Messaging.Crossover.ICrossoverEvents>()));
        services.TryAddSingleton<ICommandResponseObserver>(sp => sp.GetRequiredService<CommandService>());
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<CommandService>());
        services.TryAddSingleton(sp => new QueueCrossoverDetector(sp.GetRequiredService<IQueueStore>(), sp.GetRequiredService<ICrossoverEvents>(),
            sp.GetRequiredService<IOptions<CrossoverOptions>>().Value, sp.GetRequiredService<TimeProvider>()));
        services.AddHostedService<QueueCrossoverService>();
        return services;
    }
}
