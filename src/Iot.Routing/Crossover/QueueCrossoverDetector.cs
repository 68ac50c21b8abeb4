using System.Text.Json.Nodes;
using Iot.Messaging.Crossover;
using Iot.Routing.Queues;

namespace Iot.Routing.Crossover;

/// <summary>
/// One pass over the queues' statistics: a queue whose oldest available message has waited longer than
/// <see cref="CrossoverOptions.NoReceiverThreshold"/> raises <see cref="CrossoverTypes.QueueActiveMessagesWithNoReceiver"/>
/// (Service Bus's "active messages available with no listeners"), a queue with dead letters raises
/// <see cref="CrossoverTypes.QueueDeadLetterMessagesAvailable"/>; each at most once per queue per
/// <see cref="CrossoverOptions.RepeatPeriod"/> while the condition lasts, and at once when it comes back after it ended.
/// </summary>
/// <remarks>
/// The platform's own queues (names starting with <c>$</c>: <c>$commands</c>, whose sessions wait for offline devices
/// by design) raise no "no receiver" event; their dead letters do. A message waits when nobody receives it, and also
/// when every receive abandons it: both mean that no consumer makes progress.
/// </remarks>
internal sealed class QueueCrossoverDetector(IQueueStore queues, ICrossoverEvents events, CrossoverOptions options, TimeProvider timeProvider)
{
    /// <summary>The lease of the check in a cluster.</summary>
    public const string LeaseName = "crossover.queues";

    private const string Source = "/iot/queues";

    private readonly CrossoverThrottle _noReceiver = new(options.RepeatPeriod, timeProvider);
    private readonly CrossoverThrottle _deadLetters = new(options.RepeatPeriod, timeProvider);

    /// <summary>Checks every queue once.</summary>
    public async Task CheckAsync(CancellationToken cancellationToken)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var queue in queues.Queues)
        {
            cancellationToken.ThrowIfCancellationRequested();
            QueueStatistics statistics;
            try
            {
                statistics = await queues.GetStatisticsAsync(queue.Name, cancellationToken).ConfigureAwait(false);
            }
            catch (QueueException ex) when (ex.Error == QueueError.NotFound)
            {
                continue; // Deleted since the list was read.
            }

            seen.Add(queue.Name);
            var now = timeProvider.GetUtcNow();
            var subject = CrossoverTypes.SubjectPrefix + "queues/" + queue.Name;
            if (!queue.Name.StartsWith('$') && statistics.Active > 0 && statistics.OldestActiveAge >= options.NoReceiverThreshold)
            {
                if (_noReceiver.TryAcquire(queue.Name))
                {
                    events.TryRaise(new CrossoverEvent(CrossoverTypes.QueueActiveMessagesWithNoReceiver, Source, subject, new JsonObject
                    {
                        ["queue"] = queue.Name,
                        ["activeMessageCount"] = statistics.Active,
                        ["oldestMessageAgeSeconds"] = Math.Round(statistics.OldestActiveAge.TotalSeconds, 3),
                        ["thresholdSeconds"] = options.NoReceiverThreshold.TotalSeconds,
                        ["deadLetterMessageCount"] = statistics.DeadLettered,
                    }, now));
                }
            }
            else
            {
                _noReceiver.Reset(queue.Name);
            }

            if (statistics.DeadLettered > 0)
            {
                if (_deadLetters.TryAcquire(queue.Name))
                {
                    events.TryRaise(new CrossoverEvent(CrossoverTypes.QueueDeadLetterMessagesAvailable, Source, subject, new JsonObject
                    {
                        ["queue"] = queue.Name,
                        ["deadLetterMessageCount"] = statistics.DeadLettered,
                        ["activeMessageCount"] = statistics.Active,
                    }, now));
                }
            }
            else
            {
                _deadLetters.Reset(queue.Name);
            }
        }

        _noReceiver.RetainOnly(seen);
        _deadLetters.RetainOnly(seen);
    }
}
