namespace Iot.Streams.Aggregation;

/// <summary>
/// One closed window of one key. JSON (camelCase): <c>{"stream":"telemetry","window":"t1m","key":"dev-1",
/// "start":"...","end":"...","count":12,"fields":{"temperature":{"count":12,"avg":21.5,...}}}</c>.
/// </summary>
/// <param name="Stream">The aggregated stream.</param>
/// <param name="Window">The window definition's name.</param>
/// <param name="Key">The key (device id by default).</param>
/// <param name="Start">Window start (inclusive), event time.</param>
/// <param name="End">Window end (exclusive; for sliding windows the triggering event's time), event time.</param>
/// <param name="Count">Events in the window.</param>
/// <param name="Fields">Per field, the configured aggregates by their camelCase name; fields without values are absent.</param>
public sealed record AggregateResult(string Stream, string Window, string Key, DateTimeOffset Start, DateTimeOffset End, long Count,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Fields);

/// <summary>One event entering a window operator.</summary>
/// <param name="Key">Grouping key.</param>
/// <param name="EventTimeMs">Event time, Unix milliseconds.</param>
/// <param name="Offset">The record's offset in its partition (for the committed offset).</param>
/// <param name="Values">Field values; NaN where the payload had no number.</param>
internal readonly record struct WindowInput(string Key, long EventTimeMs, long Offset, double[] Values);

/// <summary>The state of one window over one partition, served by <c>GET /api/streams/{stream}/aggregations</c>.</summary>
/// <param name="Window">The window definition's name.</param>
/// <param name="Partition">The partition.</param>
/// <param name="Watermark">The current watermark; null before the first event.</param>
/// <param name="OpenWindows">Windows (or, for sliding windows, events) held in memory.</param>
/// <param name="DroppedLate">Events dropped as later than the tolerance since start.</param>
/// <param name="AdjustedLate">Late events moved to the watermark (policy adjust) since start.</param>
/// <param name="InvalidRecords">Records skipped because their payload was not a JSON object.</param>
public sealed record AggregationStatus(string Window, int Partition, DateTimeOffset? Watermark, int OpenWindows, long DroppedLate,
    long AdjustedLate, long InvalidRecords);
