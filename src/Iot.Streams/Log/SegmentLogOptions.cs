using System.Diagnostics.Metrics;

namespace Iot.Streams.Log;

/// <summary>When the log flushes appended records to the disk.</summary>
public enum FsyncPolicy
{
    /// <summary>One <c>fsync</c> per group commit, before any record of the group is acknowledged (the default).</summary>
    PerGroup = 0,

    /// <summary>Never: the operating system writes back when it likes. Survives a process crash, not a power loss.</summary>
    Never = 1,
}

/// <summary>Tuning of one file-backed partition log.</summary>
internal sealed class SegmentLogOptions
{
    public long SegmentBytes { get; init; } = 64L * 1024 * 1024;

    public TimeSpan SegmentMaxAge { get; init; } = TimeSpan.FromHours(1);

    public int IndexIntervalBytes { get; init; } = 4096;

    public int MaxBatchRecords { get; init; } = 1024;

    public int QueueCapacity { get; init; } = 8192;

    public FsyncPolicy Fsync { get; init; } = FsyncPolicy.PerGroup;

    public TimeSpan RetentionAge { get; init; } = TimeSpan.FromDays(7);

    public long? RetentionBytes { get; init; }

    public TimeSpan RetentionCheckInterval { get; init; } = TimeSpan.FromMinutes(1);

    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Records the time of each group write with its flush (<c>iot.stream.append.duration</c>), if set.</summary>
    public Histogram<double>? AppendDuration { get; init; }

    /// <summary>The stream this log is a partition of: the <c>stream</c> tag of <see cref="AppendDuration"/>.</summary>
    public string StreamName { get; init; } = "";
}
