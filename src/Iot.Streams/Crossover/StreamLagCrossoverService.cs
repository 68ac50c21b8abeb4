using Iot.Messaging.Crossover;
using Iot.Messaging.Leases;
using Iot.Streams.Log;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Iot.Streams.Crossover;

/// <summary>
/// Runs <see cref="StreamLagDetector"/> every <see cref="CrossoverOptions.CheckInterval"/> on the node that holds its
/// lease; nothing when crossover events are off or no publisher is in the host (Streams without Routing).
/// </summary>
internal sealed partial class StreamLagCrossoverService(IStreamStore store, ISingletonLeases leases, IOptions<CrossoverOptions> options,
    TimeProvider timeProvider, ILogger<StreamLagCrossoverService> logger, ICrossoverEvents? events = null) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (events is not { IsEnabled: true } || !settings.Enabled)
        {
            return Task.CompletedTask;
        }

        var detector = new StreamLagDetector(store, events, settings, timeProvider);
        return CrossoverChecks.RunAsync(leases, StreamLagDetector.LeaseName, settings.CheckInterval, timeProvider, detector.CheckAsync,
            ex => LogCheckFailed(logger, ex), stoppingToken);
    }

    [LoggerMessage(3020, LogLevel.Warning, "The crossover check of the consumer groups' lag failed; it runs again at the next interval")]
    private static partial void LogCheckFailed(ILogger logger, Exception exception);
}
