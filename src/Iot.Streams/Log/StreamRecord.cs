namespace Iot.Streams.Log;

/// <summary>One record of a partition: its gap-free offset, append time, partition key, source topic and payload.</summary>
/// <param name="Offset">Position in the partition, starting at 0 and increasing by one per record.</param>
/// <param name="Timestamp">When the record was appended (the broker's arrival time of the message).</param>
/// <param name="Key">The partition key (by default the device id); null when the message had none.</param>
/// <param name="Topic">The MQTT topic the record came from; null for records appended by the platform.</param>
/// <param name="Payload">The payload bytes (owned by the record).</param>
public sealed record StreamRecord(long Offset, DateTimeOffset Timestamp, string? Key, string? Topic, ReadOnlyMemory<byte> Payload);

/// <summary>A record to append; the log assigns its offset.</summary>
/// <param name="Timestamp">The record's time (arrival time).</param>
/// <param name="Key">The partition key, or null.</param>
/// <param name="Topic">The source topic, or null.</param>
/// <param name="Payload">The payload; the log copies it before <see cref="IStreamLog.AppendAsync"/> returns.</param>
public readonly record struct AppendRecord(DateTimeOffset Timestamp, string? Key, string? Topic, ReadOnlyMemory<byte> Payload);
