using System.Text.Json.Nodes;
using Iot.Messaging.Crossover;
using Iot.Streams.Log;

namespace Iot.Streams.Crossover;

/// <summary>
/// One pass over every stream's consumer groups: a group further behind than <see cref="CrossoverOptions.StreamLagThreshold"/>
/// records (summed over the partitions; a partition with nothing committed counts from its start, as the group's API
/// reports it) raises <see cref="CrossoverTypes.StreamConsumerLagExceeded"/>, at most once per group per
/// <see cref="CrossoverOptions.RepeatPeriod"/> while it stays behind, and at once when it falls behind again after it caught up.
/// </summary>
internal sealed class StreamLagDetector(IStreamStore store, ICrossoverEvents events, CrossoverOptions options, TimeProvider timeProvider)
{
    /// <summary>The lease of the check in a cluster.</summary>
    public const string LeaseName = "crossover.streams";

    private readonly CrossoverThrottle _throttle = new(options.RepeatPeriod, timeProvider);

    /// <summary>Checks every group of every stream once.</summary>
    public Task CheckAsync(CancellationToken cancellationToken)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var definition in store.Streams)
        {
            var groups = store.GetGroups(definition.Name);
            var logs = Enumerable.Range(0, definition.Partitions).Select(p => store.GetPartition(definition.Name, p)).ToList();
            foreach (var group in groups.Groups)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var key = definition.Name + "/" + group;
                seen.Add(key);
                var partitions = new JsonArray();
                long total = 0;
                for (int p = 0; p < logs.Count; p++)
                {
                    var log = logs[p];
                    var lag = Math.Max(0, log.NextOffset - Math.Max(groups.GetCommitted(group, p)?.Offset ?? log.StartOffset, log.StartOffset));
                    total += lag;
                    if (lag > 0)
                    {
                        partitions.Add(new JsonObject { ["partition"] = p, ["lag"] = lag });
                    }
                }

                if (total < options.StreamLagThreshold)
                {
                    _throttle.Reset(key);
                    continue;
                }

                if (_throttle.TryAcquire(key))
                {
                    events.TryRaise(new CrossoverEvent(CrossoverTypes.StreamConsumerLagExceeded, "/iot/streams",
                        CrossoverTypes.SubjectPrefix + "streams/" + definition.Name + "/groups/" + group, new JsonObject
                        {
                            ["stream"] = definition.Name,
                            ["group"] = group,
                            ["lag"] = total,
                            ["threshold"] = options.StreamLagThreshold,
                            ["partitions"] = partitions,
                        }, timeProvider.GetUtcNow()));
                }
            }
        }

        _throttle.RetainOnly(seen);
        return Task.CompletedTask;
    }
}
