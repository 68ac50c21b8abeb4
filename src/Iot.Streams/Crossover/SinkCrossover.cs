using System.Text.Json.Nodes;
using Iot.Messaging.Crossover;

namespace Iot.Streams.Crossover;

/// <summary>
/// Raises <see cref="CrossoverTypes.SinkFailing"/> for a sink whose writes have failed, retries included, for
/// <see cref="CrossoverOptions.SinkFailureThreshold"/> or longer: at most once per sink and stream per
/// <see cref="CrossoverOptions.RepeatPeriod"/>. In a cluster each node raises it for the partitions it writes.
/// </summary>
internal sealed class SinkCrossover(ICrossoverEvents? events, CrossoverOptions options, TimeProvider timeProvider)
{
    private readonly CrossoverThrottle _throttle = new(options.RepeatPeriod, timeProvider);

    /// <summary>A write of <paramref name="stream"/> failed; the batch has failed since <paramref name="failingSince"/> (a <see cref="TimeProvider"/> timestamp).</summary>
    public void WriteFailed(string sink, string stream, int partition, long failingSince, string? detail, long failedWrites)
    {
        if (events is not { IsEnabled: true })
        {
            return;
        }

        var failingFor = timeProvider.GetElapsedTime(failingSince);
        if (failingFor < options.SinkFailureThreshold || !_throttle.TryAcquire(sink + "/" + stream))
        {
            return;
        }

        events.TryRaise(new CrossoverEvent(CrossoverTypes.SinkFailing, "/iot/sinks/" + sink,
            CrossoverTypes.SubjectPrefix + "sinks/" + sink + "/" + stream, new JsonObject
            {
                ["sink"] = sink,
                ["stream"] = stream,
                ["partition"] = partition,
                ["failingSeconds"] = Math.Round(failingFor.TotalSeconds, 3),
                ["lastError"] = detail,
                ["failedWrites"] = failedWrites,
            }, timeProvider.GetUtcNow()));
    }
}
