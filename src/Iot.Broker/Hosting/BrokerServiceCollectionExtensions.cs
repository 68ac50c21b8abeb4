using Iot.Broker.Mqtt;
using Iot.Broker.Mqtt.Persistence;
using Iot.Broker.Security.AccessControl;
using Iot.Messaging.Crossover;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Hosting;

/// <summary>Registers the broker's services.</summary>
public static class BrokerServiceCollectionExtensions
{
    /// <summary>Adds the MQTT broker core, its durable session store and the operations endpoints' services.</summary>
    public static IServiceCollection AddIotBroker(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<IotOptions>().Bind(configuration.GetSection(IotOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<HttpOptions>().Bind(configuration.GetSection(HttpOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<SecurityOptions>().Bind(configuration.GetSection(SecurityOptions.SectionName)).ValidateOnStart();
        services.AddOptions<MqttOptions>().Bind(configuration.GetSection(MqttOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();

        services.AddConnections();
        AddDrain(services, configuration);
        Health.HealthEndpoints.AddIotHealth(services, configuration);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<BrokerEndpoints>();
        services.AddSingleton<BrokerMetrics>();
        services.AddSingleton<ISessionStore>(sp =>
        {
            var iot = sp.GetRequiredService<IOptions<IotOptions>>().Value;
            var dataDir = Path.GetFullPath(iot.DataDir);
            Directory.CreateDirectory(dataDir);
            var logger = sp.GetRequiredService<ILogger<IotOptions>>();
            HostingLog.DataDirectory(logger, dataDir);
            if (sp.GetRequiredService<IOptions<SecurityOptions>>().Value.AllowAnonymous)
            {
                HostingLog.AnonymousEnabled(logger);
            }

            var store = new SqliteSessionStore(dataDir, sp.GetRequiredService<ILogger<SqliteSessionStore>>(), sp.GetRequiredService<TimeProvider>(),
                sp.GetRequiredService<BrokerMetrics>().StoreCommitDuration);
            // Cluster mode keeps sessions in JetStream: its store wraps this one (retained messages stay here).
            return sp.GetService<Func<ISessionStore, ISessionStore>>() is { } wrap ? wrap(store) : store;
        });
        services.AddSingleton<BrokerContext>();
        services.AddSingleton(sp => new SubscriptionIndex(sp.GetService<Iot.Broker.Cluster.Live.ISubscriptionObserver>()));
        services.AddSingleton<RetainedMessages>();
        services.AddSingleton(sp => new MessageDispatcher(
            sp.GetRequiredService<SubscriptionIndex>(), sp.GetRequiredService<RetainedMessages>(),
            sp.GetRequiredService<BrokerMetrics>(), sp.GetService<Iot.Messaging.IMessageRouter>(), sp.GetService<Iot.Broker.Cluster.Live.ILiveLink>(),
            sp.GetService<IClusterFanOut>()));
        services.AddSingleton<Iot.Messaging.IMqttPublisher, BrokerPublisher>();
        services.AddSingleton<SessionManager>();
        services.AddIotAccessControl(configuration);
        services.AddSingleton<Iot.Routing.Subscriptions.IPublishAuthorizer, Iot.Broker.Security.ApiPublishAuthorizer>();
        services.AddSingleton<Iot.Broker.Security.ConnectRateLimiter>();
        services.AddSingleton<ConnectionAdmission>();
        services.AddSingleton<BrokerCommandChannel>();
        services.AddSingleton<Iot.Routing.Commands.IDeviceCommandChannel>(sp => sp.GetRequiredService<BrokerCommandChannel>());
        services.TryAddSingleton(sp => sp.GetService<ICrossoverEvents>() is { } events
            ? new ConnectionEvents(events, sp.GetRequiredService<IOptions<CrossoverOptions>>().Value, sp.GetRequiredService<TimeProvider>(),
                sp.GetService<Cluster.ClusterConnection>()?.NodeId)
            : ConnectionEvents.None);
        services.AddSingleton<ConnectionServices>();
        services.AddSingleton<MqttConnectionHandler>();
        services.AddHostedService<SessionMaintenanceService>();
        return services;
    }

    /// <summary>The graceful stop: <see cref="Drain.DrainService"/>, and the host's shutdown timeout from <c>Iot:Shutdown</c>.</summary>
    private static void AddDrain(IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<Drain.ShutdownOptions>().Bind(configuration.GetSection(Drain.ShutdownOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<HostOptions>().Configure<IOptions<Drain.ShutdownOptions>>((host, shutdown) =>
            host.ShutdownTimeout = shutdown.Value.ReadinessDelay + shutdown.Value.DrainTimeout);
        services.AddHostedService<Drain.DrainService>();
    }
}
