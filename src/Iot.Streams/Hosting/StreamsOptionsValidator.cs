using Iot.Streams.Aggregation;
using Iot.Streams.Log;
using Microsoft.Extensions.Options;

namespace Iot.Streams.Hosting;

/// <summary>Rejects bad <c>Iot:Streams</c> settings at start-up with a message naming the setting.</summary>
internal sealed class StreamsOptionsValidator : IValidateOptions<StreamsOptions>
{
    public ValidateOptionsResult Validate(string? name, StreamsOptions options)
    {
        List<string> errors = [];
        if (options.SegmentBytes is < 4096 or > 1024L * 1024 * 1024)
        {
            errors.Add("Iot:Streams:SegmentBytes must be between 4096 and 1073741824.");
        }

        if (options.SegmentMaxAge < TimeSpan.FromSeconds(1))
        {
            errors.Add("Iot:Streams:SegmentMaxAge must be at least 1 second.");
        }

        if (options.RetentionCheckInterval < TimeSpan.FromSeconds(1) || options.RetentionCheckInterval > TimeSpan.FromDays(1))
        {
            errors.Add("Iot:Streams:RetentionCheckInterval must be between 1 second and 1 day.");
        }

        if (options.MaxBatchRecords is < 1 or > 65536)
        {
            errors.Add("Iot:Streams:MaxBatchRecords must be between 1 and 65536.");
        }

        if (options.MaxPendingAppends is < 1 or > 1_000_000)
        {
            errors.Add("Iot:Streams:MaxPendingAppends must be between 1 and 1000000.");
        }

        if (options.MaxInFlightAppends is < 1 or > 65_536)
        {
            errors.Add("Iot:Streams:MaxInFlightAppends must be between 1 and 65536.");
        }

        if (options.MaxLatestAggregates is < 0 or > 10_000_000)
        {
            errors.Add("Iot:Streams:MaxLatestAggregates must be between 0 and 10 000 000.");
        }

        if (options.HistoryMaxRecords is < 1000 or > 100_000_000)
        {
            errors.Add("Iot:Streams:HistoryMaxRecords must be between 1 000 and 100 000 000.");
        }

        if (options.HistoryMaxResults is < 1 or > 1_000_000)
        {
            errors.Add("Iot:Streams:HistoryMaxResults must be between 1 and 1 000 000.");
        }

        if (options.IdleTick < TimeSpan.FromMilliseconds(10) || options.IdleTick > TimeSpan.FromHours(1))
        {
            errors.Add("Iot:Streams:IdleTick must be between 10 ms and 1 hour.");
        }

        for (int i = 0; i < options.Streams.Count; i++)
        {
            var stream = options.Streams[i];
            if (!StreamDefinition.IsValidName(stream.Name))
            {
                errors.Add($"Iot:Streams:Streams:{i}:Name '{stream.Name}' is not valid: {StreamDefinition.Validate(stream.Name)}");
            }

            if (stream.Partitions is < 1 or > 256)
            {
                errors.Add($"Iot:Streams:Streams:{i}:Partitions must be between 1 and 256.");
            }

            if (stream.RetentionAge < TimeSpan.FromMinutes(1))
            {
                errors.Add($"Iot:Streams:Streams:{i}:RetentionAge must be at least 1 minute.");
            }

            if (stream.RetentionBytes is { } bytes && bytes < 2 * options.SegmentBytes)
            {
                errors.Add($"Iot:Streams:Streams:{i}:RetentionBytes must be at least twice Iot:Streams:SegmentBytes.");
            }
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < options.Windows.Count; i++)
        {
            foreach (var error in options.Windows[i].Validate())
            {
                errors.Add($"Iot:Streams:Windows:{i}:{error}");
            }

            if (!names.Add(options.Windows[i].Name))
            {
                errors.Add($"Iot:Streams:Windows:{i}:Name '{options.Windows[i].Name}' is used twice.");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
