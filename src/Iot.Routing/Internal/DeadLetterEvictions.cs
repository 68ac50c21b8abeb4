using Iot.Messaging;
using Iot.Routing.Hosting;
using Microsoft.Extensions.Logging;

namespace Iot.Routing.Internal;

/// <summary>
/// Reports the dead letters <see cref="SqliteRoutingStore"/> deleted because a subscription held its cap: counted in
/// <see cref="RoutingCounter.DeadLettersEvicted"/> and logged (warning 2012) at most once a minute per subscription.
/// </summary>
internal sealed class DeadLetterEvictions(RoutingMetrics metrics, TimeProvider timeProvider, ILogger logger, int maxDeadLetters)
{
    private readonly RateLimitedLog _log = new(TimeSpan.FromMinutes(1), timeProvider);

    /// <summary>Called by the store's loop after the commit that deleted <paramref name="count"/> dead letters.</summary>
    public void Report(string subscription, int count)
    {
        metrics.Add(RoutingCounter.DeadLettersEvicted, count);
        if (_log.ShouldLog(subscription, timeProvider.GetTimestamp(), out long suppressed))
        {
            RoutingLog.DeadLettersEvicted(logger, LogSafe.Escape(subscription) ?? "", maxDeadLetters, count, suppressed);
        }
    }
}
