using Iot.Streams.Aggregation;
using Iot.Streams.Log;

namespace Iot.Streams.Hosting;

/// <summary>Settings of the streams layer, bound from <c>Iot:Streams</c> (see docs/configuration.md).</summary>
public sealed class StreamsOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Iot:Streams";

    /// <summary>Where the partition logs and consumer group offsets are kept.</summary>
    /// <remarks>Default <c>{Iot:DataDir}/streams</c>.</remarks>
    public string? DataDir { get; set; }

    /// <summary>Streams created at start-up when they do not exist yet (existing ones keep their stored definition).</summary>
    /// <remarks>Default: one stream <c>telemetry</c> with 4 partitions and 7 days of retention.</remarks>
    public List<StreamDefinition> Streams { get; set; } = [];

    /// <summary>Whether the route <c>devices/+/telemetry</c> to stream <c>telemetry</c> exists (named <c>streams.telemetry</c>).</summary>
    /// <remarks>Default true.</remarks>
    public bool DefaultTelemetryRoute { get; set; } = true;

    /// <summary>A partition's active segment is sealed and a new one begun at this size.</summary>
    /// <remarks>Default 64 MiB; range 4 KiB - 1 GiB.</remarks>
    public long SegmentBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>A segment is also sealed when its first record is this old, so age retention can remove it.</summary>
    /// <remarks>Default 1 hour; at least 1 second.</remarks>
    public TimeSpan SegmentMaxAge { get; set; } = TimeSpan.FromHours(1);

    /// <summary>When appended records are flushed to the disk.</summary>
    /// <remarks>Default <see cref="FsyncPolicy.PerGroup"/>: one fsync per group commit, before acknowledging.</remarks>
    public FsyncPolicy Fsync { get; set; } = FsyncPolicy.PerGroup;

    /// <summary>
    /// How often every partition's retention (age and size) is applied, whether it is written to or not (a partition's
    /// writer also checks it after a write at most this often).
    /// </summary>
    /// <remarks>Default 1 minute; range 1 second - 1 day.</remarks>
    public TimeSpan RetentionCheckInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Most records written by one group commit.</summary>
    /// <remarks>Default 1024; range 1-65536.</remarks>
    public int MaxBatchRecords { get; set; } = 1024;

    /// <summary>Appends waiting per partition before publishers wait (back-pressure to their acknowledgements).</summary>
    /// <remarks>Default 8192; range 1-1 000 000.</remarks>
    public int MaxPendingAppends { get; set; } = 8192;

    /// <summary>Windowed aggregations (see <see cref="WindowDefinition"/>).</summary>
    /// <remarks>Default none.</remarks>
    public List<WindowDefinition> Windows { get; set; } = [];

    /// <summary>
    /// The most (stream, window, key) combinations whose latest aggregate result is kept for readers that ask for it on
    /// connect (<c>GET /api/streams/{name}/aggregates?latest=true</c>); results of new keys beyond it are not kept (counted).
    /// </summary>
    /// <remarks>Default 100 000; range 0-10 000 000 (0 keeps none).</remarks>
    public int MaxLatestAggregates { get; set; } = 100_000;

    /// <summary>
    /// The most stream records one request for an aggregate history (<c>GET /api/streams/{name}/aggregates/history</c>)
    /// reads to recompute it, shared among the partitions it reads; beyond it only the newest records are read and the
    /// answer says <c>truncated</c>. It bounds the work of one request (about a second of one core per million small records).
    /// </summary>
    /// <remarks>Default 500 000; range 1 000 - 100 000 000.</remarks>
    public int HistoryMaxRecords { get; set; } = 500_000;

    /// <summary>The most results one aggregate history request may ask for (its <c>max</c>); the newest are kept.</summary>
    /// <remarks>Default 50 000; range 1 - 1 000 000.</remarks>
    public int HistoryMaxResults { get; set; } = 50_000;

    /// <summary>How often an idle aggregation advances its watermark with processing time.</summary>
    /// <remarks>Default 1 second; range 10 ms - 1 hour.</remarks>
    public TimeSpan IdleTick { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Cluster mode: appends per partition published to JetStream and not yet acknowledged (pipelined); further appends
    /// wait in the partition's queue (<see cref="MaxPendingAppends"/>).
    /// </summary>
    /// <remarks>Default 256; range 1-65 536. Ignored by the single-process file log.</remarks>
    public int MaxInFlightAppends { get; set; } = 256;
}
