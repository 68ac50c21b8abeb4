using Iot.Messaging;
using Iot.Streams.Log;
using Iot.Streams.Partitioning;

namespace Iot.Streams.Hosting;

/// <summary>
/// The <c>stream</c> route destination: appends the message to each target
/// stream, in the partition of its key (the device id of <c>devices/{id}/...</c>, round-robin otherwise). The task
/// completes when every append is durable, so the publisher's PUBACK waits for the group commit.
/// </summary>
internal sealed class StreamRouteDestination(IStreamStore store, IPartitionMapper mapper) : IRouteDestination
{
    /// <summary>The kind routes name this destination by (<c>"destination":{"kind":"stream","name":"telemetry"}</c>).</summary>
    public const string DestinationKind = "stream";

    /// <inheritdoc/>
    public string Kind => DestinationKind;

    /// <inheritdoc/>
    public bool IsValidTarget(string? name) => name is not null && store.Find(name) is not null;

    /// <inheritdoc/>
    public Task DeliverAsync(IRoutedEvent routedEvent, IReadOnlyList<string?> targets)
    {
        ArgumentNullException.ThrowIfNull(routedEvent);
        ArgumentNullException.ThrowIfNull(targets);
        var key = StreamKeys.DeviceIdFromTopic(routedEvent.Topic);
        var record = new AppendRecord(routedEvent.Time, key, routedEvent.Topic, routedEvent.Payload);
        if (targets.Count == 1)
        {
            return Append(targets[0], record).AsTask();
        }

        var tasks = new Task[targets.Count];
        for (int i = 0; i < targets.Count; i++)
        {
            tasks[i] = Append(targets[i], record).AsTask();
        }

        return Task.WhenAll(tasks);
    }

    private ValueTask<long> Append(string? stream, AppendRecord record)
    {
        var definition = (stream is null ? null : store.Find(stream))
            ?? throw new InvalidOperationException($"There is no stream named '{stream}'.");
        return store.GetPartition(definition.Name, mapper.MapToPartition(record.Key, definition.Partitions)).AppendAsync(record);
    }
}
