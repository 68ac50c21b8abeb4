using Microsoft.Extensions.Options;

namespace Iot.Broker.Hosting.Audit;

/// <summary>Trims the audit log every <see cref="AuditOptions.TrimInterval"/>: older than the retention, then beyond the count.</summary>
internal sealed partial class AuditRetentionService(IAuditLog audit, IOptions<AuditOptions> options, TimeProvider timeProvider, ILogger<AuditRetentionService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        using var timer = new PeriodicTimer(settings.TrimInterval, timeProvider);
        do
        {
            try
            {
                var trimmed = await audit.TrimAsync(timeProvider.GetUtcNow() - settings.Retention, settings.MaxEntries, stoppingToken).ConfigureAwait(false);
                if (trimmed > 0)
                {
                    Log.Trimmed(logger, trimmed, settings.Retention.TotalDays, settings.MaxEntries);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.TrimFailed(logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1196, Level = LogLevel.Information, Message = "Audit log: {Count} entries trimmed (Iot:Audit:Retention {Days} days, Iot:Audit:MaxEntries {MaxEntries})")]
        public static partial void Trimmed(ILogger logger, long count, double days, long maxEntries);

        [LoggerMessage(EventId = 1197, Level = LogLevel.Warning, Message = "Audit log: the retention could not run; it tries again at the next interval")]
        public static partial void TrimFailed(ILogger logger, Exception exception);
    }
}
