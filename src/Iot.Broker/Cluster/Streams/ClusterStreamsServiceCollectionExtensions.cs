using System.Diagnostics.Metrics;
using Iot.Streams.Aggregation;
using Iot.Streams.Hosting;
using Iot.Streams.Log;
using Iot.Streams.Log.JetStream;
using Microsoft.Extensions.Options;

namespace Iot.Broker.Cluster.Streams;

/// <summary>Registers streams on JetStream (cluster mode only; docs/cluster.md, "Streams").</summary>
internal static class ClusterStreamsServiceCollectionExtensions
{
    /// <summary>
    /// The stream store becomes <see cref="JetStreamStreamStore"/> (registered before <c>AddIotStreams</c>, which adds the
    /// file store only when no store is registered): partitions are replicated JetStream streams, definitions and
    /// consumer groups shared buckets. It opens, and creates the configured streams, before the listeners start.
    /// </summary>
    public static IServiceCollection AddClusterStreams(this IServiceCollection services)
    {
        services.AddSingleton(sp =>
        {
            var connection = sp.GetRequiredService<ClusterConnection>();
            var streams = sp.GetRequiredService<IOptions<StreamsOptions>>().Value;
            var options = new JetStreamLogOptions
            {
                Replicas = connection.Options.Replicas,
                RequestTimeout = connection.Options.RequestTimeout,
                QueueCapacity = streams.MaxPendingAppends,
                MaxInFlight = streams.MaxInFlightAppends,
                TimeProvider = sp.GetService<TimeProvider>() ?? TimeProvider.System,
                AppendDuration = StreamsMetrics.CreateAppendDuration(sp.GetService<IMeterFactory>()),
            };
            return new JetStreamStreamStore(connection.JetStream, connection.KeyValue, options, streams.Streams,
                sp.GetRequiredService<ILogger<JetStreamStreamStore>>());
        });
        services.AddSingleton<IStreamStore>(sp => sp.GetRequiredService<JetStreamStreamStore>());
        services.AddHostedService<ClusterStreamsStartup>();

        // Every node's Server-Sent Events carry every aggregation result, whichever node computed it.
        services.AddSingleton<NatsAggregateRelay>();
        services.AddSingleton<IAggregateRelay>(sp => sp.GetRequiredService<NatsAggregateRelay>());
        services.AddHostedService(sp => sp.GetRequiredService<NatsAggregateRelay>());
        return services;
    }
}

/// <summary>Opens the streams on JetStream at start (after the NATS connection, before the listeners and the aggregation).</summary>
internal sealed class ClusterStreamsStartup(JetStreamStreamStore store) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => store.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
