using Iot.Messaging.Crossover;
using Iot.Messaging.Leases;
using Iot.Streams.Crossover;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Iot.Streams.Sinks.Influx;

/// <summary>Registers the InfluxDB sink.</summary>
public static class InfluxSinkServiceCollectionExtensions
{
    /// <summary>
    /// Adds the InfluxDB sink configured from <c>Iot:Influx</c> (off unless <c>Iot:Influx:Enabled</c>); it needs
    /// <c>AddIotStreams</c>. Each stream in <c>Iot:Influx:Streams</c> is captured by the consumer group <c>influx</c>.
    /// </summary>
    public static IServiceCollection AddInfluxSink(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        services.AddOptions<InfluxSinkOptions>()
            .Bind(configuration.GetSection(InfluxSinkOptions.SectionName))
            .Configure(options =>
            {
                if (options.Streams.Count == 0)
                {
                    options.Streams.Add("telemetry");
                }
            })
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<InfluxSinkOptions>, Validator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<ISingletonLeases>(LocalSingletonLeases.Instance);
        // Timeouts are per request (RequestTimeout); the client's own would cut retries of slow writes short.
        services.AddHttpClient(InfluxV1Writer.ClientName, client => client.Timeout = Timeout.InfiniteTimeSpan).RemoveAllLoggers();
        services.TryAddSingleton<IInfluxWriter>(sp =>
        {
            var http = sp.GetRequiredService<IHttpClientFactory>().CreateClient(InfluxV1Writer.ClientName);
            var settings = sp.GetRequiredService<IOptions<InfluxSinkOptions>>().Value;
            return settings.Version == 2
                ? new InfluxV2Writer(http, settings)
                : new InfluxV1Writer(http, settings, sp.GetRequiredService<TimeProvider>());
        });
        services.AddOptions<CrossoverOptions>().Bind(configuration.GetSection(CrossoverOptions.SectionName));
        services.TryAddSingleton(sp => new SinkCrossover(sp.GetService<ICrossoverEvents>(), sp.GetRequiredService<IOptions<CrossoverOptions>>().Value,
            sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<InfluxSinkService>();
        services.AddHostedService(sp => sp.GetRequiredService<InfluxSinkService>());
        return services;
    }

    private sealed class Validator : IValidateOptions<InfluxSinkOptions>
    {
        public ValidateOptionsResult Validate(string? name, InfluxSinkOptions options)
        {
            var errors = options.Validate().ToList();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
