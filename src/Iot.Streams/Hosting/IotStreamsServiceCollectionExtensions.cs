using System.Diagnostics.Metrics;
using System.Reactive.Concurrency;
using Iot.Messaging;
using Iot.Messaging.Crossover;
using Iot.Messaging.Leases;
using Iot.Streams.Crossover;
using Iot.Streams.Aggregation;
using Iot.Streams.Internal;
using Iot.Streams.Log;
using Iot.Streams.Partitioning;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Iot.Streams.Hosting;

/// <summary>Registers the streams layer: partitioned logs, the stream route destination, consumer groups and aggregation.</summary>
public static class IotStreamsServiceCollectionExtensions
{
    /// <summary>The name of the route <c>devices/+/telemetry</c> to the stream <c>telemetry</c>.</summary>
    public const string TelemetryRouteName = "streams.telemetry";

    /// <summary>The stream the telemetry route feeds.</summary>
    public const string TelemetryStreamName = "telemetry";

    /// <summary>
    /// Adds the streams layer configured from <c>Iot:Streams</c> (see docs/configuration.md), with its data in
    /// <c>{Iot:DataDir}/streams</c>. Call it before the host is built; with <c>Iot:Streams:DefaultTelemetryRoute</c>
    /// (default true) it adds the route <c>streams.telemetry</c> to <c>Iot:Routing:Routes</c>, so the routing layer
    /// loads it like any route from configuration (read-only through the API). Map the HTTP API with
    /// <see cref="StreamsEndpointRouteBuilderExtensions.MapStreamsApi"/>.
    /// </summary>
    public static IServiceCollection AddIotStreams(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);

        services.AddOptions<StreamsOptions>()
            .Bind(configuration.GetSection(StreamsOptions.SectionName))
            .Configure(options =>
            {
                if (string.IsNullOrWhiteSpace(options.DataDir))
                {
                    options.DataDir = Path.Combine(configuration["Iot:DataDir"] is { Length: > 0 } dataDir ? dataDir : "./data", "streams");
                }

                if (options.DefaultTelemetryRoute && !options.Streams.Any(s => s.Name == TelemetryStreamName))
                {
                    options.Streams.Add(new StreamDefinition { Name = TelemetryStreamName });
                }
            })
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<StreamsOptions>, StreamsOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IScheduler>(TaskPoolScheduler.Default);
        services.TryAddSingleton<ISingletonLeases>(LocalSingletonLeases.Instance);
        services.TryAddSingleton<IPartitionMapper, HashPartitionMapper>();
        services.TryAddSingleton(sp => OpenStore(sp.GetRequiredService<IOptions<StreamsOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<FileStreamStore>>(),
            StreamsMetrics.CreateAppendDuration(sp.GetService<IMeterFactory>())));
        // Cluster mode registers its JetStream store first (AddIotCluster runs before this): then this one is never opened.
        services.TryAddSingleton<IStreamStore>(sp => sp.GetRequiredService<FileStreamStore>());
        services.TryAddSingleton<StreamRouteDestination>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IRouteDestination, StreamRouteDestination>(
            sp => sp.GetRequiredService<StreamRouteDestination>()));
        services.TryAddSingleton(sp => new AggregateHub(sp.GetRequiredService<IOptions<StreamsOptions>>().Value.MaxLatestAggregates));
        services.TryAddSingleton(sp => new AggregatePublisher(sp.GetRequiredService<AggregateHub>(), sp.GetRequiredService<IStreamStore>(),
            sp.GetRequiredService<IPartitionMapper>(), sp.GetRequiredService<ILogger<AggregatePublisher>>(), sp.GetService<IMqttPublisher>(),
            sp.GetService<IAggregateRelay>()));
        services.TryAddSingleton<AggregationService>();
        services.TryAddSingleton<AggregateHistory>();
        services.AddHostedService(sp => sp.GetRequiredService<AggregationService>());
        services.TryAddSingleton<StreamRetentionService>();
        services.AddHostedService(sp => sp.GetRequiredService<StreamRetentionService>());

        // Crossover: consumer groups that lag raise an event, when a publisher (ICrossoverEvents, Routing's) is in the host.
        services.AddOptions<CrossoverOptions>().Bind(configuration.GetSection(CrossoverOptions.SectionName));
        services.AddHostedService<StreamLagCrossoverService>();

        AddTelemetryRoute(configuration);
        return services;
    }

    /// <summary>Opens the store and creates the configured streams that do not exist yet.</summary>
    private static FileStreamStore OpenStore(StreamsOptions options, TimeProvider timeProvider, ILogger logger, Histogram<double> appendDuration)
    {
        var store = new FileStreamStore(options.DataDir!, definition => new SegmentLogOptions
        {
            SegmentBytes = options.SegmentBytes,
            SegmentMaxAge = options.SegmentMaxAge,
            Fsync = options.Fsync,
            MaxBatchRecords = options.MaxBatchRecords,
            QueueCapacity = options.MaxPendingAppends,
            RetentionAge = definition.RetentionAge,
            RetentionBytes = definition.RetentionBytes,
            RetentionCheckInterval = options.RetentionCheckInterval,
            TimeProvider = timeProvider,
            AppendDuration = appendDuration,
            StreamName = definition.Name,
        });
        foreach (var definition in options.Streams)
        {
            if (store.TryCreate(definition, out _))
            {
                StreamsLog.StreamCreated(logger, definition.Name, definition.Partitions);
            }
        }

        StreamsLog.StoreOpened(logger, store.Path, store.Streams.Count);
        foreach (var (file, reason) in store.SkippedFiles)
        {
            StreamsLog.FileSkipped(logger, file, reason);
        }

        foreach (var (file, position, bytes) in store.RecoveryCuts)
        {
            StreamsLog.TailCut(logger, file, position, bytes);
        }

        return store;
    }

    /// <summary>
    /// Appends the telemetry route to <c>Iot:Routing:Routes</c> (at the next free index, unless a route of that name is
    /// configured already): the routing layer's own way of defining read-only routes, so nothing in it changes.
    /// </summary>
    private static void AddTelemetryRoute(IConfiguration configuration)
    {
        if (!configuration.GetValue($"{StreamsOptions.SectionName}:{nameof(StreamsOptions.DefaultTelemetryRoute)}", true)
            || configuration is not IConfigurationBuilder builder)
        {
            return;
        }

        var routes = configuration.GetSection("Iot:Routing:Routes").GetChildren().ToList();
        if (routes.Any(r => string.Equals(r["name"], TelemetryRouteName, StringComparison.Ordinal)))
        {
            return;
        }

        var prefix = $"Iot:Routing:Routes:{routes.Count}:";
        builder.AddInMemoryCollection(new Dictionary<string, string?>
        {
            [prefix + "name"] = TelemetryRouteName,
            [prefix + "source"] = "devices/+/telemetry",
            [prefix + "destination:kind"] = StreamRouteDestination.DestinationKind,
            [prefix + "destination:name"] = TelemetryStreamName,
        });
    }
}
