using Iot.Messaging.Crossover;
using Iot.Messaging.Leases;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Iot.Routing.Crossover;

/// <summary>Runs <see cref="QueueCrossoverDetector"/> every <see cref="CrossoverOptions.CheckInterval"/> on the node that holds its lease.</summary>
internal sealed partial class QueueCrossoverService(QueueCrossoverDetector detector, ISingletonLeases leases, IOptions<CrossoverOptions> options,
    TimeProvider timeProvider, ILogger<QueueCrossoverService> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => options.Value.Enabled
        ? CrossoverChecks.RunAsync(leases, QueueCrossoverDetector.LeaseName, options.Value.CheckInterval, timeProvider, detector.CheckAsync,
            ex => LogCheckFailed(logger, ex), stoppingToken)
        : Task.CompletedTask;

    [LoggerMessage(2111, LogLevel.Warning, "The crossover check of the queues failed; it runs again at the next interval")]
    private static partial void LogCheckFailed(ILogger logger, Exception exception);
}
