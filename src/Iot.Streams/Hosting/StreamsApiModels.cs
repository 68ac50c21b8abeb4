using System.Text.Json;

namespace Iot.Streams.Hosting;

// The answers of the streams API (docs/api.md), named so that the OpenAPI document describes them. JSON is camelCase;
// null members are left out (StreamsJson).

/// <summary>A stream: partitions, retention (<c>d.hh:mm:ss</c>) and each partition's offsets.</summary>
internal sealed record StreamResponse(string Name, int Partitions, TimeSpan Retention, long? RetentionBytes, IEnumerable<PartitionOffsetsResponse> PartitionOffsets);

/// <summary>A partition's first kept offset and the offset its next record will get.</summary>
internal sealed record PartitionOffsetsResponse(int Partition, long StartOffset, long NextOffset);

/// <summary>Records read from a partition, the offset to read next, and the partition's bounds.</summary>
internal sealed record StreamReadResponse(IEnumerable<StreamRecordResponse> Records, long NextOffset, long StartOffset, long EndOffset);

/// <summary>A record: its payload as JSON when it parses, else as base64 in <c>payloadBase64</c>.</summary>
internal sealed record StreamRecordResponse(long Offset, DateTimeOffset Timestamp, string? Key, string? Topic, JsonElement? Payload, string? PayloadBase64);

/// <summary>The InfluxDB sink's counters and lag (<see cref="Sinks.Influx.InfluxSinkLag"/>).</summary>
internal sealed record InfluxSinkResponse(long PointsWritten, long PointsRejected, long FailedWrites, long RecordsSkipped, long RecordsBehind,
    double WaitingSeconds, DateTimeOffset? LastWriteAt);

/// <summary>A consumer group: per partition its committed offset, the end and the lag.</summary>
internal sealed record ConsumerGroupResponse(string Stream, string Group, IEnumerable<ConsumerGroupPartitionResponse> Partitions);

/// <summary>A consumer group's position in one partition (no committed offset: it reads from the start).</summary>
internal sealed record ConsumerGroupPartitionResponse(int Partition, long? CommittedOffset, string? Metadata, long EndOffset, long Lag);
