using Iot.Broker.Cluster.Commands;
using Iot.Broker.Cluster.Leases;
using Iot.Broker.Cluster.Live;
using Iot.Broker.Cluster.Nodes;
using Iot.Broker.Cluster.Queues;
using Iot.Broker.Cluster.Retained;
using Iot.Broker.Cluster.Routing;
using Iot.Broker.Cluster.Security;
using Iot.Broker.Cluster.Sessions;
using Iot.Broker.Cluster.Streams;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Cluster;

/// <summary>Registers cluster mode's services when <c>Iot:Cluster:Nats:Url</c> is set (docs/cluster.md).</summary>
internal static class ClusterServiceCollectionExtensions
{
    /// <summary>Binds <see cref="ClusterOptions"/>; in cluster mode adds the NATS connection, opened before the listeners start.</summary>
    public static IServiceCollection AddIotCluster(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ClusterOptions>().Bind(configuration.GetSection(ClusterOptions.SectionName)).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<ClusterOptions>, ClusterOptionsValidator>();
        var options = configuration.GetSection(ClusterOptions.SectionName).Get<ClusterOptions>() ?? new ClusterOptions();
        if (!options.Enabled)
        {
            return services;
        }

        services.AddSingleton<ClusterConnection>();
        services.AddHostedService<ClusterStartup>();
        services.AddClusterNodes();
        services.AddClusterRetained();
        services.AddClusterLive();
        services.AddClusterSecurity();
        services.AddClusterSessions();
        services.AddSingleton<Live.SubscriptionBarrier>();
        services.AddSingleton<Iot.Broker.Mqtt.ISubscriptionBarrier>(sp => sp.GetRequiredService<Live.SubscriptionBarrier>());
        services.AddHostedService(sp => sp.GetRequiredService<Live.SubscriptionBarrier>());
        services.AddClusterLeases();
        services.AddClusterRouting();
        services.AddClusterStreams();
        services.AddClusterQueues();
        services.AddClusterCommands();
        return services;
    }
}

/// <summary>Opens the NATS connection at start; the broker does not start without it.</summary>
internal sealed class ClusterStartup(ClusterConnection connection) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => connection.ConnectAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
