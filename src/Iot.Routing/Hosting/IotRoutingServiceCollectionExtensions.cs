using System.Text.Json;
using Iot.Messaging;
using Iot.Messaging.Crossover;
using Iot.Messaging.Leases;
using Iot.Routing.Crossover;
using Iot.Routing.Internal;
using Iot.Routing.Rules;
using Iot.Routing.Subscriptions;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Iot.Routing.Hosting;

/// <summary>Registers the routing layer: routes, event subscriptions, webhook delivery, pull delivery and <see cref="IMessageRouter"/>.</summary>
public static class IotRoutingServiceCollectionExtensions
{
    /// <summary>The configuration section of the routes defined in configuration.</summary>
    public const string RoutesSectionName = "Iot:Routing:Routes";

    /// <summary>
    /// Adds the routing layer, configured from <c>Iot:Routing</c> (see docs/configuration.md) with its state in
    /// <c>{Iot:DataDir}/routing.db</c>. The broker then offers every client publish to the routes; map the HTTP API
    /// with <see cref="RoutingEndpointRouteBuilderExtensions.MapRoutingApi"/>.
    /// </summary>
    public static IServiceCollection AddIotRouting(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);

        services.AddOptions<RoutingOptions>()
            .Bind(configuration.GetSection(RoutingOptions.SectionName))
            .Configure(options =>
            {
                if (string.IsNullOrWhiteSpace(options.DataDir))
                {
                    options.DataDir = configuration["Iot:DataDir"] is { Length: > 0 } dataDir ? dataDir : "./data";
                }
            })
            .Configure<IServiceProvider>((options, sp) =>
                // Unset: private networks only in Development; a host without an environment counts as Production.
                options.WebhookAllowPrivateNetworks ??= sp.GetService<IHostEnvironment>()?.IsDevelopment() ?? false)
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RoutingOptions>, RoutingOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<RoutingMetrics>();
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<RoutingOptions>>().Value;
            var evictions = new DeadLetterEvictions(sp.GetRequiredService<RoutingMetrics>(), sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<ILoggerFactory>().CreateLogger<SqliteRoutingStore>(), options.MaxDeadLetteredEventsPerSubscription);
            return new SqliteRoutingStore(Path.Combine(options.DataDir!, "routing.db"), options.MaxPendingStoreOperations,
                options.MaxPendingEventsPerSubscription, options.MaxPendingBytesPerSubscription,
                options.MaxDeadLetteredEventsPerSubscription, evictions.Report, sp.GetRequiredService<RoutingMetrics>().StoreCommitDuration);
        });
        services.TryAddSingleton<IRoutingDefinitionStore>(sp => sp.GetRequiredService<SqliteRoutingStore>());
        services.TryAddSingleton<IEventDeliveryStore>(sp => sp.GetRequiredService<SqliteRoutingStore>());
        services.TryAddSingleton<DeliverySignals>();
        services.TryAddSingleton<EventSubscriptionRegistry>();
        services.TryAddSingleton<EventSubscriptionDestination>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IRouteDestination, EventSubscriptionDestination>(
            sp => sp.GetRequiredService<EventSubscriptionDestination>()));
        services.TryAddSingleton(sp => new RouteTable(sp.GetRequiredService<IRoutingDefinitionStore>(), sp.GetServices<IRouteDestination>(),
            ReadConfiguredRoutes(configuration), sp.GetRequiredService<IOptions<RoutingOptions>>().Value.DefaultEventRoute));
        services.TryAddSingleton<MessageRouter>();
        services.TryAddSingleton<IMessageRouter>(sp => sp.GetRequiredService<MessageRouter>());
        services.TryAddSingleton<PullDelivery>();
        services.TryAddSingleton<WebhookSender>();
        services.TryAddSingleton(sp => new WebhookAddressPolicy(sp.GetRequiredService<IOptions<RoutingOptions>>().Value));
        services.TryAddSingleton(sp => new WebhookConnector(sp.GetRequiredService<WebhookAddressPolicy>()));
        services.TryAddSingleton<IPublishAuthorizer, AllowAllPublishAuthorizer>();
        // The delivery loops log outcomes themselves; the default per-request logging would add lines per event.
        // Every connection goes through the connector, which refuses addresses the policy does not allow.
        services.AddHttpClient(WebhookSender.ClientName, (sp, client) =>
            client.Timeout = sp.GetRequiredService<IOptions<RoutingOptions>>().Value.WebhookTimeout)
            .ConfigurePrimaryHttpMessageHandler(sp => sp.GetRequiredService<WebhookConnector>().CreateHandler())
            .RemoveAllLoggers();
        services.AddHostedService<RoutingStartup>();
        services.TryAddSingleton<ISingletonLeases>(LocalSingletonLeases.Instance);
        services.AddHostedService<WebhookDeliveryService>();
        AddCrossover(services, configuration);
        services.AddIotQueuesAndCommands(configuration);
        return services;
    }

    /// <summary>
    /// Crossover events (<c>Iot:Crossover</c>): the publisher every service raises its events to (<see cref="ICrossoverEvents"/>),
    /// routed like CloudEvents posted to the API; the queue checks are added with the queues.
    /// </summary>
    private static void AddCrossover(IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<CrossoverOptions>().Bind(configuration.GetSection(CrossoverOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<CrossoverOptions>, CrossoverOptionsValidator>());
        services.TryAddSingleton(sp => new CrossoverPublisher(sp.GetRequiredService<IOptions<CrossoverOptions>>(), sp.GetRequiredService<MessageRouter>,
            sp.GetRequiredService<RoutingMetrics>(), sp.GetRequiredService<ILogger<CrossoverPublisher>>()));
        services.TryAddSingleton<ICrossoverEvents>(sp => sp.GetRequiredService<CrossoverPublisher>());
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<CrossoverPublisher>());
        services.TryAddSingleton<SubscriptionCrossover>();
    }

    /// <summary>Reads <c>Iot:Routing:Routes</c> (an array of route objects, as the API's JSON).</summary>
    internal static IReadOnlyList<RouteDefinition> ReadConfiguredRoutes(IConfiguration configuration)
    {
        var section = configuration.GetSection(RoutesSectionName);
        if (!section.Exists())
        {
            return [];
        }

        var node = RoutingJson.FromConfiguration(section);
        try
        {
            return node is System.Text.Json.Nodes.JsonArray array
                ? array.Deserialize<List<RouteDefinition>>(RoutingJson.Options) ?? []
                : throw new InvalidOperationException($"{RoutesSectionName} must be an array of routes.");
        }
        catch (JsonException ex)
        {
            throw new InvalidOperationException($"{RoutesSectionName} is invalid: {ex.Message}", ex);
        }
    }

    /// <summary>Opens the store and builds the route table at start-up, so bad routes in configuration stop the host.</summary>
    private sealed class RoutingStartup(IRoutingDefinitionStore store, RouteTable routes, EventSubscriptionRegistry subscriptions, ILogger<RoutingStartup> logger)
        : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            RoutingLog.StoreOpened(logger, store.Path, routes.Count, subscriptions.Count);
            foreach (var (table, name, reason) in store.SkippedDefinitions)
            {
                RoutingLog.DefinitionSkipped(logger, store.Path, table, name, reason);
            }

            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
